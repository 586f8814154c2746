"""A trace as one self-contained HTML page: inline CSS and JS, no network, works from a file or an email.

The page shows the generated text as clickable tokens (shaded by how unlikely each choice was) and, for
the selected moment, its top-k probabilities and a summary of its attention row: per layer the share of
attention on the prompt vs the generated part, a layer x head grid of that share, and the positions most
attended on average. Arrow keys step through the moments.

Tokens are read in context: a character split over several tokens shows on each (underlined, faded after
the first part) with its bytes in the hover; labels mark a part as ``小¹⁄₂``. The fonts include CJK ones.

A lesson's page carries its title and its notes: a noted token is marked in the text, and its note (with the
head it points at) heads the panel of its moment.
"""

from __future__ import annotations

import html
import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from tracing.core.token_text import EMPTY_TOKEN, MONO_FONT_STACK, TEXT_FONT_STACK, TokenPiece
from tracing.core.trace import Trace
from tracing.lessons.lesson import Note

FOCUS_POSITIONS = 5


def attention_summary(attention: np.ndarray | None, prompt_len: int, all_tokens: list[str]) -> dict | None:
    """Small numbers a page can show for one moment's attention row ``[layers, heads, keys]``."""
    if attention is None:
        return None
    weights = attention.astype(np.float32)
    on_prompt = weights[:, :, :prompt_len].sum(-1)  # [layers, heads]
    on_generated = weights[:, :, prompt_len:].sum(-1)
    average = weights.mean(axis=(0, 1))  # [keys]
    focus = np.argsort(-average)[:FOCUS_POSITIONS]
    return {
        "layers": np.round(np.stack([on_prompt.mean(1), on_generated.mean(1)], axis=1), 4).tolist(),
        "heads": np.round(on_prompt, 3).tolist(),
        "focus": [[int(k), all_tokens[k], round(float(average[k]), 4)] for k in focus],
    }


def segments(piece: TokenPiece) -> list[list[str]]:
    """A token as [text, CSS class] runs: plain text, parts of split characters, leftover byte fragments;
    an empty token as ``∅``."""
    runs = [
        [text, ""]
        if part is None
        else [part.shown, "frag" if not part.char else "part later" if part.part > 1 else "part"]
        for text, part in piece.segments
    ]
    return runs or [[EMPTY_TOKEN, "frag"]]


def page_data(trace: Trace, title: str | None = None, notes: Sequence[Note] = ()) -> dict:
    pieces = trace.token_pieces()
    all_tokens = [piece.label for piece in pieces]
    by_moment = {note.moment: note for note in notes}
    s = trace.settings
    return {
        "title": title,
        "model": trace.identity.label,
        "prompt": trace.prompt,
        "decoding": (
            f"sampling: temperature {s.temperature}, top-k {s.top_k or 'off'}, top-p {s.top_p}, seed {s.seed}"
            if s.do_sample
            else "greedy"
        ),
        "stop_reason": trace.stop_reason,
        "prompt_tokens": list(trace.prompt_tokens),
        "moments": [
            {
                "token": m.token,
                "label": piece.label,
                "segments": segments(piece),
                "note": piece.note,
                "prob": round(m.prob, 5),
                "rank": m.rank,
                "entropy": round(m.entropy, 4),
                "eligible": m.eligible_count,
                "top": [
                    [top.label, round(float(p), 5), bool(e)]
                    for top, p, e in zip(
                        trace.candidate_pieces(m.index, m.top_tokens), m.top_probs, m.eligible_mask, strict=False
                    )
                ],
                "attention": attention_summary(m.attention, trace.prompt_len, all_tokens),
                "lesson_note": _note_data(by_moment.get(m.index)),
            }
            for m, piece in zip(trace.moments, pieces[trace.prompt_len :], strict=True)
        ],
    }


def _note_data(note: Note | None) -> dict | None:
    return None if note is None else {"text": note.text, "head": note.head_label}


STYLE = """
body{font:14px/1.45 TEXT_FONTS;margin:0;color:#222;background:#fafafa}
header{padding:12px 20px;background:#263238;color:#eceff1}header h1{font-size:18px;margin:0 0 4px}
header div{font-size:13px;opacity:.85}main{display:flex;gap:16px;padding:16px 20px;align-items:flex-start}
#text{flex:1;background:#fff;border:1px solid #ddd;border-radius:6px;padding:12px;white-space:pre-wrap;
font-family:MONO_FONTS}#panel{width:520px;background:#fff;border:1px solid #ddd;border-radius:6px;
padding:12px}.tok{cursor:pointer;border-radius:3px;padding:0 1px}.tok:hover{outline:1px solid #555}
.tok.sel{outline:2px solid #d81b60}.prompt{color:#888}details{margin-bottom:8px}table{border-collapse:collapse;
width:100%;font-size:12px}td,th{padding:2px 4px;text-align:left}.bar{background:#1e88e5;height:10px}
.bar.off{background:#b0bec5}.gen{background:#fb8c00}.grid td{width:14px;height:14px;padding:0}
h2{font-size:15px;margin:12px 0 4px}.muted{color:#777;font-size:12px}code{background:#eee;padding:0 3px;white-space:pre;
font-family:MONO_FONTS}.part{text-decoration:underline dotted;text-underline-offset:3px}.part.later{opacity:.45}.tok.sel .part.later{opacity:1}
.frag{font-size:.8em;opacity:.7}.tok.noted{box-shadow:inset 0 -3px 0 #f9a825}
.note{background:#fff8e1;border-left:4px solid #f9a825;padding:6px 10px;margin:4px 0 8px;white-space:pre-wrap}
.note .head{font-size:12px;color:#6d4c00}
""".replace("TEXT_FONTS", TEXT_FONT_STACK).replace("MONO_FONTS", MONO_FONT_STACK)

SCRIPT = """
const D = JSON.parse(document.getElementById('trace-data').textContent);
const esc = s => s.replace(/[&<>"]/g, c => ({'&':'&amp;','<':'&lt;','>':'&gt;','"':'&quot;'}[c]));
const text = document.getElementById('generated'), panel = document.getElementById('panel');
let current = 0;
D.moments.forEach((m, i) => {
  const span = document.createElement('span');
  span.className = 'tok'; span.dataset.i = i;
  for (const [part, cls] of m.segments) {
    const run = document.createElement('span');
    run.textContent = part; if (cls) run.className = cls;
    span.appendChild(run);
  }
  span.style.background = `rgba(216,27,96,${(1 - m.prob) * 0.45})`;
  span.title = `#${i}  p=${m.prob.toFixed(4)}  rank ${m.rank}  entropy ${m.entropy.toFixed(3)}` + (m.note ? `\\n${m.note}` : '')
    + (m.lesson_note ? `\\nnote: ${m.lesson_note.text}` : '');
  if (m.lesson_note) span.classList.add('noted');
  span.onclick = () => select(i);
  text.appendChild(span);
  if (m.token.includes('\\u21b5')) text.appendChild(document.createElement('br'));
});
function bar(value, cls) { return `<div class="bar ${cls || ''}" style="width:${Math.round(value * 100)}%"></div>`; }
function select(i) {
  if (!D.moments.length) { panel.innerHTML = '<p>No moments in this trace.</p>'; return; }
  current = Math.max(0, Math.min(D.moments.length - 1, i));
  document.querySelectorAll('.tok').forEach(s => s.classList.toggle('sel', +s.dataset.i === current));
  const m = D.moments[current];
  let h = `<h2>Moment ${current}: <code title="${esc(m.note)}">${esc(m.label)}</code></h2>`;
  if (m.lesson_note) h += `<div class="note">${esc(m.lesson_note.text)}${m.lesson_note.head
    ? `<div class="head">look at ${esc(m.lesson_note.head)}</div>` : ''}</div>`;
  h += `
    <div>p = ${m.prob.toFixed(4)} &middot; rank ${m.rank} &middot; entropy ${m.entropy.toFixed(3)} nats
    &middot; ${m.eligible} eligible</div><h2>Top ${m.top.length}</h2><table>`;
  for (const [tok, p, ok] of m.top) h += `<tr><td><code>${esc(tok)}</code>${ok ? '' : ' <span class="muted">(not eligible)</span>'}</td>
    <td>${p.toFixed(4)}</td><td style="width:50%">${bar(p, ok ? '' : 'off')}</td></tr>`;
  h += '</table>';
  const a = m.attention;
  if (a) {
    h += '<h2>Attention by layer</h2><div class="muted">mean over heads: blue on the prompt, orange on generated tokens</div><table>';
    a.layers.forEach(([p, g], l) => h += `<tr><td>L${l}</td><td style="width:70%"><div style="display:flex">
      ${bar(p)}${bar(g, 'gen')}</div></td><td>${p.toFixed(2)}</td></tr>`);
    h += '</table><h2>Share on the prompt, layer x head</h2><table class="grid">';
    a.heads.forEach(row => { h += '<tr>' + row.map(v => `<td title="${v}" style="background:rgba(30,136,229,${v})"></td>`).join('') + '</tr>'; });
    h += '</table><h2>Most attended positions</h2><table>';
    for (const [k, tok, w] of a.focus) h += `<tr><td>${k}${k < D.prompt_tokens.length ? ' (prompt)' : ''}</td>
      <td><code>${esc(tok)}</code></td><td>${w.toFixed(4)}</td></tr>`;
    h += '</table>';
  }
  panel.innerHTML = h;
}
document.addEventListener('keydown', e => {
  if (e.key === 'ArrowRight') select(current + 1);
  if (e.key === 'ArrowLeft') select(current - 1);
});
select(0);
"""


def render_html(trace: Trace, title: str | None = None, notes: Sequence[Note] = ()) -> str:
    """The page as a string; a lesson's ``title`` heads it and its ``notes`` show at their moments."""
    data = page_data(trace, title, notes)
    payload = json.dumps(data, ensure_ascii=False).replace("</", "<\\/")  # no early </script>
    e = html.escape
    heading = f"{e(title)}</h1><div>{e(data['model'])} &middot; " if title else f"{e(data['model'])}</h1><div>"
    noted = f" &middot; {len(notes)} notes" if notes else ""
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>{e(title or "Trace: " + trace.identity.label)}</title><style>{STYLE}</style></head>
<body><header><h1>{heading}{e(data["decoding"])} &middot; {len(trace.moments)} moments{noted} &middot; stopped by {e(trace.stop_reason)}</div></header>
<main><section id="text"><details><summary>prompt ({trace.prompt_len} tokens, as the model read it)</summary>
<span class="prompt">{e(trace.rendered_prompt)}</span></details><div id="generated"></div></section>
<aside id="panel"></aside></main>
<script type="application/json" id="trace-data">{payload}</script>
<script>{SCRIPT}</script></body></html>
"""


def write_html(trace: Trace, path: str | Path, title: str | None = None, notes: Sequence[Note] = ()) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render_html(trace, title, notes), encoding="utf-8")
    return path
