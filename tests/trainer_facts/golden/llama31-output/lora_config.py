# PEFT LoraConfig: exported by lora-compiler 0.1.0 from llama31-output.yml
# checked: trains the same 225 LoRA layer(s) as Axolotl would on meta-llama/Llama-3.1-8B

from peft import LoraConfig

lora_config = LoraConfig(
    task_type='CAUSAL_LM',
    r=16,
    target_modules=['down_proj', 'gate_proj', 'k_proj', 'lm_head', 'o_proj', 'q_proj', 'up_proj', 'v_proj'],
    lora_alpha=32,
    lora_dropout=0.05,
)
