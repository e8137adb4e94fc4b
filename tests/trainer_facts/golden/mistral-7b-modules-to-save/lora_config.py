# PEFT LoraConfig: exported by lora-compiler 0.1.0 from mistral-7b-modules-to-save.yml
# checked: trains the same 224 LoRA layer(s) as Axolotl would on mistralai/Mistral-7B-v0.1

from peft import LoraConfig

lora_config = LoraConfig(
    task_type='CAUSAL_LM',
    r=16,
    target_modules=['down_proj', 'gate_proj', 'k_proj', 'o_proj', 'q_proj', 'up_proj', 'v_proj'],
    lora_alpha=32,
    lora_dropout=0.0,
    modules_to_save=['embed_tokens', 'lm_head'],
)
