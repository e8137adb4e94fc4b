"""Work shared by the files of one batch: each distinct model skeleton is built once.

Injection unloads itself, so a skeleton comes back unchanged and serves the next file; one
that failed midway is dropped rather than reused.
"""

from __future__ import annotations

import json
from typing import Any, Callable

from .resolve import ModelSource
from .spec import AdapterSpec

# Every spec field that changes the config or the class the skeleton is built from.
_SKELETON_FIELDS = ("cls_model_config", "type_of_model", "overrides_of_model_config", "num_labels",
                    "trust_remote_code", "is_multimodal", "gptq", "base_model")


class Session:
    def __init__(self) -> None:
        self._skeletons: dict[str, Any] = {}
        self.builds = 0

    @staticmethod
    def key(source: ModelSource, spec: AdapterSpec, allow_remote_code: bool) -> str:
        fields = {f: getattr(spec, f) for f in _SKELETON_FIELDS}
        return json.dumps([str(source.config_dir), source.kind, allow_remote_code, fields], sort_keys=True, default=str)

    def skeleton(self, key: str, build: Callable[[], Any]) -> Any:
        if key not in self._skeletons:
            self._skeletons[key] = build()
            self.builds += 1
        return self._skeletons[key]

    def discard(self, key: str) -> None:
        self._skeletons.pop(key, None)
