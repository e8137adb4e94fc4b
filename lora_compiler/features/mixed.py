"""The `mixed_adapters` YAML extension of `load_lora` (docs/runtime.md): more adapters beside the YAML's own,
new (lora, loha, lokr) or loaded from a directory, combined in one PeftMixedModel."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, PositiveInt, TypeAdapter, ValidationError, model_validator

from ..pipeline.document import Document
from ..pipeline.spec import AdapterSpec
from ..rulebook.pipeline import SCHEMA
from .peft_calls import LoraCompilerError, peft_call, report


class MixedAdapter(BaseModel):
    """One `mixed_adapters` entry: a new adapter of another type, or an existing adapter directory."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(
        pattern=r"^[A-Za-z_][A-Za-z0-9_-]*$",
        description=("Adapter name in the PeftMixedModel: letters, digits, _ and -. 'default' is the YAML's own LoRA."),
    )
    type: Literal["lora", "loha", "lokr"] | None = Field(
        default=None, description="Kind of new adapter: lora, loha or lokr (default lora). Not with path."
    )
    path: str | None = Field(
        default=None, description="Directory of a saved PEFT adapter (lora, loha or lokr), loaded as saved."
    )
    r: PositiveInt | None = Field(default=None, description="Rank of a new adapter (PEFT's default: 8).")
    alpha: PositiveInt | None = Field(default=None, description="Alpha of a new adapter (PEFT's default: 8).")
    target_modules: str | list[str] | None = Field(
        default=None, description="Modules a new adapter wraps: names matched as suffixes, or one full-match regex."
    )

    @model_validator(mode="after")
    def _one_source(self) -> MixedAdapter:
        if self.name == "default":
            raise ValueError("the name 'default' belongs to the adapter the YAML's lora_* keys define")
        if self.path is not None:
            extra = [k for k in ("type", "r", "alpha", "target_modules") if getattr(self, k) is not None]
            if extra:
                raise ValueError(f"an entry with path loads the adapter as saved; remove {', '.join(extra)}")
        elif not self.target_modules:
            raise ValueError("give either path (a saved adapter) or target_modules (a new adapter)")
        return self


def mixed_adapters(doc: Document) -> list[MixedAdapter]:
    """Validate the `mixed_adapters` extension; errors are positioned at the offending entry or value."""
    raw = doc.values.get("mixed_adapters")
    if raw is None:
        return []
    try:
        entries = TypeAdapter(list[MixedAdapter]).validate_python(raw)
    except ValidationError as exc:
        problems = []
        for err in exc.errors(include_url=False):
            loc = tuple(err["loc"])
            field = MixedAdapter.model_fields.get(str(loc[-1])) if loc else None
            hint = field.description if field else "a list of entries with name and path, or name and target_modules"
            where = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in loc)
            problems.append(
                SCHEMA.at(
                    doc,
                    f"mixed_adapters{where}: {err['msg']}",
                    ("mixed_adapters",) + loc,
                    hint=hint,
                    prefer_value=err["type"] != "extra_forbidden",
                )
            )
        raise LoraCompilerError(problems) from None
    names = [entry.name for entry in entries]
    report(
        [
            SCHEMA.at(
                doc,
                f"mixed_adapters[{i}].name: '{name}' is used twice",
                ("mixed_adapters", i, "name"),
                prefer_value=True,
                hint="give each adapter its own name",
            )
            for i, name in enumerate(names)
            if name in names[:i]
        ]
    )
    return entries


def mixed_model(
    model: Any,
    doc: Document,
    spec: AdapterSpec,
    lora_config: Any,
    entries: list[MixedAdapter],
    inference: bool,
    kwargs: dict[str, Any],
) -> Any:
    """A PeftMixedModel: the YAML's own adapter (if any) as 'default', then each entry, all active."""
    from peft import PeftMixedModel, get_peft_model

    mixed: Any = None
    names: list[str] = []

    def add(name: str, at: tuple[Any, ...], config: Any = None, path: str | None = None) -> None:
        nonlocal mixed
        if path is not None and mixed is None:
            mixed = peft_call(
                doc, at, lambda: PeftMixedModel.from_pretrained(model, path, name, is_trainable=not inference)
            )
        elif path is not None:
            peft_call(doc, at, lambda: mixed.load_adapter(path, name, is_trainable=not inference))
        elif mixed is None:
            mixed = peft_call(doc, at, lambda: get_peft_model(model, config, adapter_name=name, mixed=True, **kwargs))
        else:
            peft_call(doc, at, lambda: mixed.add_adapter(name, config, **kwargs))
        names.append(name)

    if spec.lora_model_dir:
        add("default", ("lora_model_dir",), path=spec.lora_model_dir)
    elif lora_config is not None:
        add("default", ("adapter",), config=lora_config)
    for i, entry in enumerate(entries):
        at = ("mixed_adapters", i)
        add(entry.name, at, config=None if entry.path else entry_config(doc, entry, at), path=entry.path)
    mixed.set_adapter(names)
    if inference:
        mixed.eval().requires_grad_(False)
    return mixed


def entry_config(doc: Document, entry: MixedAdapter, at: tuple[Any, ...]) -> Any:
    from peft import LoHaConfig, LoKrConfig, LoraConfig

    cls, alpha_key = {"lora": (LoraConfig, "lora_alpha"), "loha": (LoHaConfig, "alpha"), "lokr": (LoKrConfig, "alpha")}[
        entry.type or "lora"
    ]
    kwargs: dict[str, Any] = {"target_modules": entry.target_modules}
    if entry.r is not None:
        kwargs["r"] = entry.r
    if entry.alpha is not None:
        kwargs[alpha_key] = entry.alpha
    return peft_call(doc, at, lambda: cls(**kwargs))
