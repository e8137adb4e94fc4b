# PEFT LoraConfig: exported by lora-compiler 0.1.0 from llama32-pissa.yml
# checked: trains the same 32 LoRA layer(s) as Axolotl would on meta-llama/Llama-3.2-1B

from peft import LoraConfig

lora_config = LoraConfig(
    task_type='CAUSAL_LM',
    r=16,
    target_modules=['q_proj', 'v_proj'],
    lora_alpha=16,
    lora_dropout=0.0,
    init_lora_weights='pissa_niter_4',
)
