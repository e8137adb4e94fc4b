"""What one Axolotl release is, as data (Profile), and the tables most releases share.

A release module (profiles/axolotl_X_Y.py) declares one Profile from these; its key tree sits beside it in
this folder (scripts/gen_axolotl_keys.py writes it from the release's own venv).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass


@dataclass(frozen=True)
class Profile:
    version: str
    transformers: str  # the versions the release pins (its Requires-Dist)
    peft: str
    torch: str  # the torch its stack is installed with (constraints files, scripts/install.sh)
    keys: str  # the key tree resource in lora_compiler/ (scripts/gen_axolotl_keys.py)
    # loaders/utils.py get_linear_embedding_layers: (input embedding, output layer) by model type
    output_layers: Mapping[str, tuple[str, str]]
    adapters: tuple[str, ...]  # values of `adapter:` the release's load_adapter handles
    ties_lora_output_embeddings: bool  # loaders/adapter.py calls utils/lora_tying.py after get_peft_model
    # loaders/model.py _configure_embedding_dtypes (0.20+): the float32 pass runs, embeddings included, whenever the
    # pass back to the model dtype will not (so under FSDP with QLoRA), and kbit preparation leaves the embeddings
    # alone when the pass back would revert them (monkeypatch/peft/utils.py patch_peft_prep_code)
    upcasts_unconverted_embeddings: bool = True
    lora_fp32_gradients: bool = False  # the `lora_fp32_gradients` key keeps LoRA tensors float32 (0.21+)
    # `scripts/install.sh --stack MINOR` installs its libraries (constraints-axolotl-MINOR.txt); the newest
    # release's are the default (constraints.txt) either way
    own_stack: bool = False

    @property
    def name(self) -> str:
        return f"Axolotl {self.version}"

    @property
    def minor(self) -> str:
        """ "0.21" for 0.21.0: what --axolotl, the policy key and install.sh --stack are usually given."""
        return ".".join(self.version.split(".")[:2])

    def embedding_layers(self, model_type: str) -> tuple[str, str]:
        """Axolotl's (input embedding, output layer) names for a model type (get_linear_embedding_layers)."""
        return self.output_layers.get(model_type, self.output_layers["*"])


def keys_file(version: str) -> str:
    """The key tree resource of a release, relative to the lora_compiler package."""
    return f"profiles/axolotl_keys-{version}.json"


OUTPUT_LAYERS = {
    "falcon": ("word_embeddings", "lm_head"),
    "nemotron_h": ("embeddings", "lm_head"),
    "bailing_hybrid": ("word_embeddings", "lm_head"),
    "*": ("embed_tokens", "lm_head"),
}
