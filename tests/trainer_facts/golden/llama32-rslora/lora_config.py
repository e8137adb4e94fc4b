# PEFT LoraConfig: exported by lora-compiler 0.1.0 from llama32-rslora.yml
# checked: trains the same 112 LoRA layer(s) as Axolotl would on meta-llama/Llama-3.2-1B

from peft import LoraConfig

lora_config = LoraConfig(
    task_type='CAUSAL_LM',
    r=16,
    target_modules=['down_proj', 'gate_proj', 'k_proj', 'o_proj', 'q_proj', 'up_proj', 'v_proj'],
    lora_alpha=16,
    lora_dropout=0.0,
    use_rslora=True,
)
