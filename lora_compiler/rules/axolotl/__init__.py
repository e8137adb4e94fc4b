"""Axolotl's start-up validators, one module per area of its schema, each registering its own table.

validator.py is the shared form (Validator, register); scripts/axolotl_inventory.py lists what each release's
source holds, and tests prove every entry is mirrored here or declared out of scope (scope.py).
"""

from . import (
    capabilities,  # noqa: F401  (declaration)
    compatibility,  # noqa: F401  (declaration)
    compatibility_2,  # noqa: F401  (declaration)
    compatibility_3,  # noqa: F401  (declaration)
    config_input,  # noqa: F401  (declaration)
    config_input_2,  # noqa: F401  (declaration)
    cross_check,  # noqa: F401  (declaration)
    data,  # noqa: F401  (declaration)
    data_2,  # noqa: F401  (declaration)
    data_3,  # noqa: F401  (declaration)
    deprecated,  # noqa: F401  (declaration)
    lora,  # noqa: F401  (declaration)
    lora_2,  # noqa: F401  (declaration)
    normalize,  # noqa: F401  (declaration)
    optimization,  # noqa: F401  (declaration)
    optimization_2,  # noqa: F401  (declaration)
    optimization_3,  # noqa: F401  (declaration)
    plugins,  # noqa: F401  (declaration)
    plugins_2,  # noqa: F401  (declaration)
    plugins_3,  # noqa: F401  (declaration)
    plugins_4,  # noqa: F401  (declaration)
    plugins_5,  # noqa: F401  (declaration)
    plugins_6,  # noqa: F401  (declaration)
    training,  # noqa: F401  (declaration)
    training_2,  # noqa: F401  (declaration)
    training_3,  # noqa: F401  (declaration)
    types,  # noqa: F401  (declaration)
)
