"""Work shared by the files of one batch: each distinct skeleton is built once, each injection done once.

Injection puts the skeleton back as it found it, so one skeleton serves the next file; one that
failed midway is dropped rather than reused. Files that differ only in keys the adapter does not
depend on (learning rate, datasets, ...) compile to the same LoraConfig on the same skeleton,
and get the same injection without running PEFT again.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from ..pipeline.skeleton import SPEC_FIELDS
from ..pipeline.source import ModelSource
from ..pipeline.spec import AdapterSpec


class Session:
    def __init__(self) -> None:
        self._skeletons: dict[str, Any] = {}
        self._injections: dict[tuple[str, str, bool], Any] = {}  # (skeleton key, injection key, parameters)
        self._kinds: dict[tuple[str, str, bool], Any] = {}
        self.builds = 0
        self.injections = 0

    @staticmethod
    def key(source: ModelSource, spec: AdapterSpec, allow_remote_code: bool) -> str:
        fields = {f: getattr(spec, f) for f in SPEC_FIELDS}
        return json.dumps([str(source.config_dir), source.kind, allow_remote_code, fields], sort_keys=True, default=str)

    def skeleton(self, key: str, build: Callable[[], Any]) -> Any:
        if key not in self._skeletons:
            self._skeletons[key] = build()
            self.builds += 1
        return self._skeletons[key]

    def injection(self, key: str, lora_config: Any, inject: Callable[[], Any], parameters: bool = False) -> Any:
        """`inject()`'s result for this skeleton and LoraConfig, PEFT run once per batch and kind of adapter.

        Configs that inject alike share one result; configs that differ only in the global r and
        lora_alpha share one PEFT run when its counts can be carried to another rank (inject.at_rank).
        `parameters`: `inject()` lists every parameter (for the post-load freezing), which no other
        rank's result can stand in for.
        """
        from ..pipeline.inject import carried_to_rank, injection_keys

        same, same_kind = injection_keys(lora_config)
        exact = (key, same, parameters)
        if exact not in self._injections:
            kind = (key, same_kind, parameters)
            seen = self._kinds.get(kind)
            carried = carried_to_rank(seen, lora_config) if seen is not None and not parameters else None
            if carried is not None:
                self._injections[exact] = carried
            else:
                self._injections[exact] = self._kinds[kind] = inject()
                self.injections += 1
        return self._injections[exact]

    def discard(self, key: str) -> None:
        self._skeletons.pop(key, None)
