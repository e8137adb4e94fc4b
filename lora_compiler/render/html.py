"""report.html: the layer map for a person, one self-contained file that opens from disk and prints.

No network: a Content-Security-Policy forbids every fetch, styles are inline, there is no script.
Every text comes from the report (module names, YAML, findings are user input) and is escaped.
"""

from __future__ import annotations

import html
import json
from collections.abc import Callable, Iterable
from typing import AbstractSet, Any

from ..results import layermap as lm
from ..results.findings import Finding
from ..results.parts import AdapterFile, Coverage, StaticMemory
from ..results.report import Report, suffix_table
from .markdown import profile_line, rank_notes
from .text import size_text

CSP = "default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; img-src data:"
STATE_CLASS = {"targeted": "t", "saved": "s", "excluded": "x", "off": "o"}
STATE_TEXT = {
    "targeted": "with LoRA",
    "saved": "modules_to_save / trainable tokens",
    "excluded": "excluded (lora_exclude_modules)",
    "off": "not targeted",
}
CSS = """
:root{--bg:#fff;--fg:#1f2328;--mu:#59636e;--bd:#d1d9e0;--pn:#f6f8fa;--k1:#aceebb;--k2:#4ac26b;--k3:#2da44e;
--k4:#116329;--kf:#fff;--o:#eff2f5;--of:#8c959f;--x:#ffebe9;--xf:#cf222e;--s:#e2d3fc;--sf:#6639ba;--moe:#bf8700;
--d:#fb8500;--w:#9a6700;--e:#cf222e;--tw:#0969da;color-scheme:light dark}
@media (prefers-color-scheme:dark){:root{--bg:#0d1117;--fg:#e6edf3;--mu:#9198a1;--bd:#3d444d;--pn:#151b23;
--k1:#0e4429;--k2:#006d32;--k3:#26a641;--k4:#39d353;--kf:#0d1117;--o:#212830;--of:#656c76;--x:#3c1618;--xf:#ff7b72;
--s:#2e1f5e;--sf:#d2a8ff;--moe:#e3b341;--d:#ffa657;--w:#d29922;--e:#f85149;--tw:#4493f8}}
*{box-sizing:border-box}
body{margin:0;padding:20px 28px;background:var(--bg);color:var(--fg);font:14px/1.45 system-ui,-apple-system,
"Segoe UI",Roboto,"Helvetica Neue",Arial,sans-serif}
h1{font-size:22px;margin:0 0 2px}h2{font-size:16px;margin:0 0 6px}h3{font-size:14px;margin:18px 0 6px}
.sub,.mu{color:var(--mu)}code,pre,.grid td{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace}
code{font-size:12.5px}
.cards{display:flex;flex-wrap:wrap;gap:10px;margin:14px 0}
.card{border:1px solid var(--bd);background:var(--pn);border-radius:8px;padding:8px 14px;min-width:150px}
.card b{display:block;font-size:19px}.card span{color:var(--mu);font-size:12px}
dl.facts{display:grid;grid-template-columns:max-content 1fr;gap:2px 14px;margin:0 0 12px;font-size:13px}
dl.facts dt{color:var(--mu)}dl.facts dd{margin:0}
.legend{display:flex;flex-wrap:wrap;gap:4px 14px;align-items:center;font-size:12px;margin:8px 0 14px}
.legend i{display:inline-block;min-width:22px;padding:0 3px;height:14px;vertical-align:-2px;margin-right:4px;
border-radius:2px;font:10px/14px ui-monospace,monospace;text-align:center;font-style:normal}
.maps{display:flex;flex-wrap:wrap;gap:18px 28px;align-items:flex-start}
.map{min-width:0}.aside h3:first-child{margin-top:0}
.side{display:flex;gap:18px;align-items:flex-start;overflow-x:auto;padding-bottom:6px}.side>.map{flex:none}
.tower{border-left:4px solid var(--tw);padding-left:10px}
.grid{border-collapse:separate;border-spacing:2px;font-size:11px}
.grid th{font-weight:600;color:var(--mu);padding:0 3px;white-space:nowrap}
.grid thead th{vertical-align:bottom;text-align:center;font-size:11px}.grid thead th small{display:block;
color:var(--moe);font-weight:600}
.grid tbody th{text-align:right;font:11px ui-monospace,monospace}
.grid td{min-width:38px;height:17px;padding:0 3px;text-align:center;border-radius:3px;line-height:17px;font-size:10.5px}
td.t{background:var(--k3);color:var(--kf)}td.k1{background:var(--k1);color:var(--fg)}td.k2{background:var(--k2);
color:var(--kf)}td.k4{background:var(--k4);color:var(--kf)}
td.o{background:var(--o);color:var(--of);box-shadow:inset 0 0 0 1px var(--bd)}
td.x{background:var(--x);color:var(--xf);font-weight:700}
td.s{background:var(--s);color:var(--sf)}td.n{background:none}
td.e{background-image:linear-gradient(135deg,var(--moe) 5px,transparent 5px)}
td.d{outline:2px solid var(--d);outline-offset:0}
td:hover{outline:2px solid var(--fg)}
table.tab{border-collapse:collapse;font-size:12.5px;margin:4px 0}
table.tab th,table.tab td{border-bottom:1px solid var(--bd);padding:3px 10px 3px 0;text-align:left}
table.tab td.num{text-align:right}
ul.findings{list-style:none;padding:0;margin:0}ul.findings li{border:1px solid var(--bd);border-radius:6px;
padding:6px 10px;margin:0 0 6px;background:var(--pn)}
.sev{font-weight:700;text-transform:uppercase;font-size:11px}.sev.error{color:var(--e)}.sev.warning{color:var(--w)}
pre.src{margin:4px 0 0;padding:3px 8px;border-left:3px solid var(--bd);overflow-x:auto;font-size:12px}
pre.src span{color:var(--mu);user-select:none}
footer{margin-top:18px;font-size:12px;color:var(--mu)}
@media print{@page{size:A4;margin:8mm}
body{padding:0;font-size:9px;-webkit-print-color-adjust:exact;print-color-adjust:exact}
h1{font-size:14px}h2{font-size:10px;margin:0 0 2px}h3{font-size:10px;margin:6px 0 2px}
.cards{margin:4px 0;gap:4px}.card{padding:2px 8px;min-width:0}.card b{font-size:11px}.card span{font-size:8px}
dl.facts{font-size:8px;margin:0 0 4px}.legend{font-size:8px;margin:2px 0 4px}code{font-size:8px}
.grid{border-spacing:1px}.grid th,.grid thead th,.grid tbody th{font-size:7px}
.grid td{height:10px;line-height:10px;min-width:24px;font-size:6.5px}
table.tab{font-size:8px}table.tab th,table.tab td{padding:0 6px 0 0}ul.findings li{padding:2px 6px;margin:0 0 2px}
pre.src{font-size:8px}footer{font-size:8px;margin-top:4px}.legend i{min-width:16px;height:10px;
font-size:7px;line-height:10px}.maps,.map,ul.findings li{break-inside:avoid}.side{overflow:visible}}
"""


def _e(value: Any) -> str:
    return html.escape(str(value))


def _n(value: int) -> str:
    return f"{value:,}"


def _page(title: str, body: Iterable[str]) -> str:
    return "\n".join(
        [
            "<!DOCTYPE html>",
            '<html lang="en">',
            "<head>",
            '<meta charset="utf-8">',
            f'<meta http-equiv="Content-Security-Policy" content="{CSP}">',
            '<meta name="viewport" content="width=device-width, initial-scale=1">',
            f"<title>{_e(title)}</title>",
            f"<style>{CSS}</style>",
            "</head>",
            "<body>",
            *body,
            "</body>",
            "</html>",
            "",
        ]
    )


def _names(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, str):
        return f"<code>{_e(value)}</code> (regex)"
    return ", ".join(f"<code>{_e(v)}</code>" for v in value) or "—"


def _levels(ranks: Iterable[int]) -> dict[int, str]:
    """CSS class per rank: a stronger green for a higher rank; one rank alone gets the middle shade."""
    ranks = sorted(set(ranks))
    if len(ranks) < 2:
        return {r: "" for r in ranks}
    return {r: ("k1", "k2", "", "k4")[round(3 * i / (len(ranks) - 1))] for i, r in enumerate(ranks)}


def _tip(cell: lm.Cell) -> str:
    """The hover text: every module's full name, type, shape and what LoRA does to it."""
    lines = []
    for m in cell.members[:6]:
        lines.append(m.name)
        what = (
            f"r={m.r} alpha={m.alpha:g} · {_n(m.params)} LoRA params" if m.state == "targeted" else STATE_TEXT[m.state]
        )
        lines.append(f"  {m.type} {m.shape} ({'experts x ' if m.num_experts else ''}in x out) · {what}")
    if len(cell.members) > 6:
        lines.append(f"… and {len(cell.members) - 6} more")
    if len(cell.members) > 1:
        lines.append(f"{len(cell.members)} modules, {_n(cell.params)} LoRA params")
    return "\n".join(lines)


def _td(cell: lm.Cell | None, levels: dict[int, str], experts: bool, differs: bool = False) -> str:
    if cell is None:
        return f'<td class="n{" d" if differs else ""}"></td>'
    state = cell.state
    classes = [STATE_CLASS[state]]
    if state == "targeted":
        classes.append(levels.get(max(cell.ranks), "") if cell.ranks else "")
        text = "/".join(map(str, cell.ranks))
    else:
        text = {"saved": "save", "excluded": "×", "off": "·"}[state]
    if experts:
        classes.append("e")
    if differs:
        classes.append("d")
    return f'<td class="{" ".join(c for c in classes if c)}" title="{_e(_tip(cell))}">{_e(text)}</td>'


def _th_col(col: lm.Column) -> str:
    name = col.key.split(".", 1)[1] if col.experts else col.key
    badge = f"<small>MoE{f' ×{col.num_experts}' if col.num_experts else ''}</small>" if col.experts else ""
    return f'<th scope="col" title="{_e(col.key)}">{_e(name)}{badge}</th>'


def _grid(
    columns: list[lm.Column],
    rows: list[str],
    cell_at: Callable[[str, str], lm.Cell | None],
    levels: dict[int, str],
    differs: AbstractSet[tuple[str, str]] = frozenset(),
) -> list[str]:
    out = [
        '<table class="grid">',
        "<thead><tr><th></th>" + "".join(_th_col(c) for c in columns) + "</tr></thead>",
        "<tbody>",
    ]
    for label in rows:
        tds = "".join(_td(cell_at(label, c.key), levels, c.experts, (label, c.key) in differs) for c in columns)
        out.append(f'<tr><th scope="row">{_e(label)}</th>{tds}</tr>')
    return out + ["</tbody>", "</table>"]


def _block_html(lmap: lm.LayerMap, block: lm.Block, levels: dict[int, str]) -> list[str]:
    cells = {(r.label, c.key): cell for r, c, cell in block.cells()}
    targeted = sum(cell.state == "targeted" for cell in cells.values())
    return [
        f'<section class="map{" tower" if block.is_tower else ""}" data-block="{_e(block.name)}">',
        f"<h2>{_e(lm.block_title(lmap, block))}</h2>",
        f'<p class="mu">{targeted}{f" of {len(cells)}" if lmap.has_candidates else ""} cells with LoRA</p>',
        *_grid(list(block.columns), [r.label for r in block.rows], lambda r, c: cells.get((r, c)), levels),
        "</section>",
    ]


def _legend(maps: list[lm.LayerMap], levels: dict[int, str], diff: bool = False) -> str:
    """The key to the colours, naming only what these maps show."""
    shown = {c.state for m in maps for b in m.blocks for _, _, c in b.cells()}
    items = [
        f'<span><i style="background:var(--{k or "k3"});color:var(--{"fg" if k == "k1" else "kf"})">{_e(r)}</i>'
        f"LoRA r={_e(r)}</span>"
        for r, k in levels.items()
    ]
    items += [
        f'<span><i style="background:var(--{v});color:var(--{v}f)">{text}</i>{STATE_TEXT[state]}</span>'
        for state, v, text in (("saved", "s", "save"), ("excluded", "x", "×"), ("off", "o", "·"))
        if state in shown
    ]
    if any(c.experts for m in maps for b in m.blocks for c in b.columns):
        items.append(
            '<span><i style="background:linear-gradient(135deg,var(--moe) 5px,var(--o) 5px)"></i>'
            "MoE expert weights</span>"
        )
    if diff:
        items.append('<span><i style="outline:2px solid var(--d)"></i>differs between reports</span>')
    if not all(m.has_candidates for m in maps):
        items.append('<span class="mu">modules left untargeted are not listed in this report</span>')
    return '<div class="legend">' + "".join(items) + "</div>"


def _findings(findings: tuple[Finding, ...], source: str | None) -> list[str]:
    lines = source.splitlines() if source else []
    out = ["<h3>Findings</h3>"]
    if not findings:
        return out + ['<p class="mu">None.</p>']
    out.append('<ul class="findings">')
    for f in findings:
        where = ":".join(str(p) for p in (f.file or "<input>", f.line, f.column) if p is not None)
        item = (
            f'<li><span class="sev {_e(f.severity.value)}">{_e(f.severity.value)}</span> <code>[{_e(f.rule)}]'
            f"</code> <code>{_e(where)}</code><br>{_e(f.message)}"
        )
        if f.hint:
            item += f'<br><span class="mu">hint: {_e(f.hint)}</span>'
        if f.line and f.line <= len(lines):
            item += f'<pre class="src"><span>{_e(f.line)} │ </span>{_e(lines[f.line - 1])}</pre>'
        out.append(item + "</li>")
    return out + ["</ul>"]


def _tables(report: Report) -> list[str]:
    out = [
        "<h3>Modules by name</h3>",
        '<table class="tab"><thead><tr><th>module</th><th>count</th>'
        "<th>shape (in x out)</th><th>r / alpha</th><th>LoRA params</th></tr></thead><tbody>",
    ]
    out += [
        f'<tr><td><code>{_e(r["suffix"])}</code></td><td class="num">{r["count"]}</td>'
        f"<td>{_e(', '.join(r['shapes']))}</td><td>{_e(', '.join(r['ranks']))}</td>"
        f'<td class="num">{_n(r["params"])}</td></tr>'
        for r in suffix_table(report.modules)
    ]
    out.append("</tbody></table>")
    extra = [(m, "modules_to_save") for m in report.modules_to_save]
    extra += [(m, "trainable tokens") for m in report.trainable_tokens]
    if extra:
        out += [
            "<h3>Trained in full</h3>",
            '<table class="tab"><thead><tr><th>module</th><th>kind</th><th>type</th>'
            "<th>params</th></tr></thead><tbody>",
        ]
        out += [
            f"<tr><td><code>{_e(m.name)}</code></td><td>{kind}</td><td>{_e(m.type)}</td>"
            f'<td class="num">{_n(m.params)}</td></tr>'
            for m, kind in extra
        ]
        out.append("</tbody></table>")
    return out + _rewrites(report) + _coverage(report.coverage)


def _rewrites(report: Report) -> list[str]:
    """The LoraConfig fields PEFT rewrote while injecting (adapter_config.json holds the saved values)."""
    if not report.peft_rewrites:
        return []
    rows = (
        f"<tr><td><code>{_e(r.field)}</code></td><td><code>{_e(json.dumps(r.built))}</code></td>"
        f"<td><code>{_e(json.dumps(r.saved))}</code></td><td>{_e(r.reason)}</td></tr>"
        for r in report.peft_rewrites
    )
    head = "<th>field</th><th>Axolotl's LoraConfig</th><th>saved adapter</th><th>why</th>"
    table = f'<table class="tab"><thead><tr>{head}</tr></thead><tbody>'
    return ["<h3>PEFT rewrote the LoraConfig</h3>", table, *rows, "</tbody></table>"]


def _coverage(cov: Coverage | None) -> list[str]:
    if not cov or not cov.entries:
        return []
    return [
        f"<h3>Coverage per target ({cov.adapted_decoder_layers} of {cov.decoder_layers or '?'} decoder "
        "layers adapted)</h3>",
        '<table class="tab"><thead><tr><th>entry</th><th>from</th><th>reached</th>'
        "<th>where</th><th>decoder layers</th></tr></thead><tbody>",
        *(
            f"<tr><td><code>{_e(e.entry)}</code></td><td>{_e(e.key)}</td>"
            f'<td class="num">{_n(e.reached)}</td>'
            f"<td>{_e(', '.join(f'{k} {n}' for k, n in e.blocks.items()) or 'nothing')}</td>"
            f'<td class="num">{e.decoder_layers}</td></tr>'
            for e in cov.entries
        ),
        "</tbody></table>",
    ]


def _size(info: AdapterFile) -> str:
    return "unknown" if info.bytes is None else f"{info.bytes / 2**20:,.1f} MiB"


def _per_device_card(memory: StaticMemory | None) -> list[tuple[str, str]]:
    """What one device holds at the largest device count asked for, where the YAML shards."""
    if not memory or not memory.sharding or not memory.per_device or memory.per_device[-1].on_device is None:
        return []
    busiest = memory.per_device[-1]
    return [
        (
            size_text(busiest.on_device),
            f"per device, {busiest.devices} devices ({memory.sharding.by}, "
            "static" + ("" if memory.sharding.exact else ", approximate") + ")",
        )
    ]


def _summary(report: Report, lmap: lm.LayerMap) -> list[str]:
    model, env, memory = report.model, report.environment, report.static_memory
    levels = [sum(f.severity.value == level for f in report.findings) for level in ("error", "warning", "info")]
    cards = [
        ("fails" if levels[0] else "passes", f"{levels[0]} errors · {levels[1]} warnings · {levels[2]} info"),
        (f"{_n(report.trainable_params)}", f"trainable params ({report.trainable_percent:.4f}%)"),
        (_n(len(report.modules)), "wrapped modules"),
        *([(_size(report.adapter_file), "adapter file (adapter_model.safetensors)")] if report.adapter_file else []),
        *(
            [(size_text(memory.total), "static memory (excludes activations)")]
            if memory and memory.total is not None
            else []
        ),
        *_per_device_card(memory),
        (_n(model.num_parameters), "model parameters"),
        (str(model.num_hidden_layers or "—"), "layers" + (" · multimodal" if model.is_multimodal else "")),
    ]
    facts = [
        ("config", f"<code>{_e(report.file or '<mapping>')}</code> (adapter: {_e(report.adapter)})"),
        (
            "model",
            f"{_e(model.architecture)} (model_type <code>{_e(model.model_type)}</code>, loaded as "
            f"{_e(model.loader)}, config from {_e(model.config_source)})",
        ),
        ("target_modules", _names(report.target_modules)),
        ("found by lora_target_linear", _names(report.linear_names)),
    ]
    if report.target_parameters:
        facts.append(("target_parameters", _names(report.target_parameters)))
    facts += [
        ("ranks PEFT set", _e(note.split(": ", 1)[1]) + f" on <code>{_e(note.split('`')[1])}</code>")
        for note in rank_notes(report)
    ]
    if report.effective_target_parameters and not report.target_parameters:
        facts.append(("PEFT rewrote expert targets into", _names(report.effective_target_parameters)))
    facts.append(("trainable", f"{_n(report.trainable_params)} of {_n(report.all_params)} parameters"))
    if report.freezing:
        kept = ", ".join(
            f"{_e(g.group)} {_n(g.trained)} of {_n(g.peft_trainable)}"
            for g in report.freezing.groups
            if g.peft_trainable or g.trained
        )
        facts.append(
            (
                "Axolotl's post-load freezing",
                f"PEFT leaves {_n(report.peft_trainable_params)} trainable; trained: {kept}",
            )
        )
    counts = lmap.counts()
    facts.append(
        ("modules on the map", ", ".join(f"{_n(n)} {STATE_TEXT[s]}" for s, n in counts.items() if n or s == "targeted"))
    )
    facts.append(
        (
            "versions",
            _e(
                f"torch {env.get('torch')}, transformers {env.get('transformers')}, peft {env.get('peft')}, "
                f"lora-compiler {env.get('lora_compiler')}"
            ),
        )
    )
    facts.append(("Axolotl semantics", _e(profile_line(report.axolotl))))
    return (
        ['<div class="cards">']
        + [f'<div class="card"><b>{_e(v)}</b><span>{_e(k)}</span></div>' for v, k in cards]
        + ["</div>", '<dl class="facts">']
        + [f"<dt>{k}</dt><dd>{v}</dd>" for k, v in facts]
        + ["</dl>"]
    )


def render_report_html(report: Report, source: str | None = None) -> str:
    """report.html of one report; `source` is the YAML text, to quote the findings' lines."""
    lmap = lm.build_layer_map(report)
    levels = _levels(lmap.ranks())
    name = report.model.base_model or report.model.architecture
    body = [
        f"<header><h1>LoRA targets: {_e(name)}</h1>",
        f'<div class="sub">{_e(report.model.architecture)} · {_e(report.file or "<mapping>")}</div></header>',
        *_summary(report, lmap),
        *_findings(report.findings, source),
        _legend([lmap], levels),
        '<div class="maps">',
    ]
    for block in lmap.blocks:
        body += _block_html(lmap, block, levels)
    body += [
        '<section class="aside">',
        *_tables(report),
        "</section>",
        "</div>",
        "<footer>Written by lora-compiler from targets.json. Hover a cell for its modules.</footer>",
    ]
    return _page(f"LoRA targets: {name}", body)
