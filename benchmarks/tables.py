"""The Markdown tables of benchmarks/README.md and recipes.md, rendered from the saved results.

    python benchmarks/tables.py            # print every table
    python benchmarks/tables.py --write    # rewrite the marked tables in both pages in place
    python benchmarks/tables.py --check    # exit 1, naming each marked table that differs

The project's rule is that every number in the READMEs comes from code that ran; copying numbers
by hand breaks it quietly, so the pages' tables are this script's output. Each one follows a
line `<!-- table: NAME -->`, and TABLES below maps NAME to the function that renders it from
results/ (and, for the shipped model, from the shipped checkpoints' config.json). A number in
the prose is marked the same way, `<!-- value: NAME -->2.4289<!-- /value -->`, and rendered by
VALUES[NAME]. Everything else is left alone.
"""

import argparse
import json
import re
import sys
from pathlib import Path

from dlm_core.cli import DEFAULT_SAMPLER
from dlm_core.model import PRESETS
from epochs import lowest

HERE = Path(__file__).parent
RESULTS = HERE / "results"
README = HERE / "README.md"
PAGES = (README, HERE / "recipes.md")
CHECKPOINTS = HERE.parent / "dlm_core" / "checkpoints"
THROUGHPUT = RESULTS / "throughput-laptop-2026-12-04.txt"
MARKER = re.compile(r"^<!-- table: ([\w-]+) -->$")
VALUE = re.compile(r"<!-- value: ([\w-]+) -->(.*?)<!-- /value -->")


def load(name: str) -> dict:
    return json.loads((RESULTS / name).read_text())


def table(header: list, rows: list[list]) -> str:
    """A Markdown table in the README's style: no padding, `|---|` under every column."""
    def line(cells):
        return "| " + " | ".join(str(cell) for cell in cells) + " |"
    return "\n".join([line(header), "|" + "---|" * len(header), *map(line, rows)])


def error(pair: list, digits: int = 3) -> str:
    """A result stored as [mean, standard error], the way the results files keep them."""
    return f"{pair[0]:.{digits}f} ± {pair[1]:.{digits}f}"


def span(values: list, digits: int) -> str:
    """Repeated measurements by their range, lowest-highest."""
    return f"{min(values):.{digits}f}-{max(values):.{digits}f}"


# --- Training throughput: throughput.py's printed output, saved as text, parsed back -------------

def markdown_tables(lines: list[str]) -> list[list[list[str]]]:
    """The tables in some lines of Markdown: each a list of rows of cells, the `|---|` line dropped."""
    tables, current = [], None
    for line in lines:
        if not line.startswith("|"):
            current = None
            continue
        if current is None:
            current = []
            tables.append(current)
        if not set(line) <= set("|-: "):
            current.append([cell.strip() for cell in line.strip().strip("|").split("|")])
    return tables


def throughput_runs(path: Path = THROUGHPUT) -> list[tuple[bool, list]]:
    """Each run of throughput.py in the file (one per `device ...` line): (compiled?, its tables)."""
    runs = []
    for line in path.read_text().splitlines():
        if line.startswith("device "):
            runs.append((line.rstrip().endswith("compile=True"), []))
        elif runs:
            runs[-1][1].append(line)
    return [(compiled, markdown_tables(lines)) for compiled, lines in runs]


# The README drops the file's "share of fp32 peak" (bf16 against fp32's peak says little).
STEP_COLUMNS = ["ms/step", "tokens/s", "GFLOP/s", "share of own peak", "first 3 steps"]


def throughput_table() -> str:
    """Both runs' training steps, one table, with a column saying which run was compiled."""
    rows = []
    for compiled, (steps, _attention) in throughput_runs():
        header, *body = steps
        for row in body:
            cells = dict(zip(header, row))
            rows.append([cells["precision"], "yes" if compiled else "no", *(cells[c] for c in STEP_COLUMNS)])
    return table(["precision", "compile", *STEP_COLUMNS], rows)


def attention_table() -> str:
    """The first run's attention table (the README says so). throughput.py has since renamed the
    column for attention under autocast from "model.attention" to "autocast"; the file predates it."""
    _compiled, (_steps, (header, *body)) = throughput_runs()[0]
    return table(["autocast" if cell == "model.attention" else cell for cell in header], body)


# --- Quality per CPU minute ----------------------------------------------------------------------

def quality_table() -> str:
    records = {name: load(f"{name}.json") for name in ("cpu-5min", "cpu-25min")}
    # One machine header for both rows: unpacking a set of one fails if the runs' core counts differ.
    (cores,) = {r["machine"]["cores"] for r in records.values()}
    rows = []
    for name, r in records.items():
        s = r["settings"]
        model = {**PRESETS[s["preset"]], **s.get("model", {})}  # a recipe gives only what differs
        # Without a window schedule every step trains on windows of the full context.
        context = f"context {model['block_size']} on a window schedule" if s.get("window_schedule") \
            else f"window {model['block_size']}"
        peak = r["machine"]["matmul_peak_gflops"]
        rows.append([f"[`{name}`](../{r['config']})",
                     f"{model['n_layer']} layers, d={model['d_model']}, {context}, {r['params']:,} parameters",
                     f"{s['time_budget']} s", f"{r['steps']:,}",
                     f"**{r['val_nelbo_bits_per_char']:.4f} ± {r['val_stderr']:.4f}**",
                     f"matmul peak fp32 {peak['fp32']} / bf16 {peak['bf16']} GFLOP/s"])
    return table(["recipe", "model", "budget", "steps", "validation NELBO (bits/char)",
                  f"machine ({cores} CPU cores)"], rows)


# --- The shipped model ---------------------------------------------------------------------------

def shipped_table() -> str:
    """Sizes, steps and times from the shipped checkpoints' config.json; the denoiser's score from
    `dlm eval` on the shipped fp16 weights, the twin's from quality.py on its kept weights."""
    denoiser, twin = (json.loads((CHECKPOINTS / name / "config.json").read_text())
                      for name in ("shakespeare", "shakespeare-twin"))
    run, twin_run, shipped = results_of(denoiser), results_of(twin), load("shipped-eval.json")
    # The results files must describe the checkpoints that ship, and "the same network" must hold.
    for saved, result in ((denoiser, run), (twin, twin_run)):
        if (saved["params"], saved["step"]) != (result["params"], result["steps"]):
            raise SystemExit(f"{result['config']}'s results are not of the shipped checkpoint")
    if {**denoiser["model"], "causal": True} != twin["model"]:
        raise SystemExit("the shipped twin is not the denoiser's network with a causal mask")
    m, t = denoiser["model"], denoiser["train"]
    dropout = f", dropout {m['dropout']:g}" if m.get("dropout") else ""
    rows = [[f"denoiser: {m['n_layer']} layers, d={m['d_model']}, context {m['block_size']}{dropout}, "
             f"{t['optimizer'].capitalize()} lr {t['lr']:g}, batch {t['batch_size']}",
             config_link(run), f"{denoiser['params']:,}", f"{denoiser['step']:,}",
             f"{denoiser['elapsed'] / 60:.1f} min",
             f"**{shipped['bits_per_char']:.4f} ± {shipped['stderr']:.4f}** (NELBO, an upper bound)"],
            # The twin keeps its best weights: `step` and `elapsed` are theirs, `run` the whole run's.
            ["autoregressive twin: the same network, `causal: true`", config_link(twin_run),
             f"{twin['params']:,}", f"{twin['step']:,} kept of {twin['run']['step']:,}",
             f"{twin['elapsed'] / 60:.1f} min to the kept step",
             f"**{twin_run['val_nelbo_bits_per_char']:.4f}** (exact next-character loss)"]]
    return table(["model", "config", "parameters", "steps", "training wall time", "validation bits/char"], rows)


def results_of(saved: dict) -> dict:
    """quality.py's results for a shipped checkpoint: results/<config>.json, the config named in
    the command that trained it (recorded by ship.py as provenance)."""
    command = saved["provenance"]["command"]
    config = re.search(r"--config (\S+)", command)
    if config is None:
        raise SystemExit(f"the shipped command {command!r} names no --config, so no results file")
    return load(Path(config.group(1)).stem + ".json")


def config_link(result: dict) -> str:
    return f"[`{Path(result['config']).stem}`](../{result['config']})"


# --- Diffusion against its autoregressive twin ---------------------------------------------------

# The README shows these rows of race.json, (model, strategy, steps); results/race.txt has them all.
RACE_ROWS = ([("diffusion", "ancestral", n) for n in (8, 16, 64, 256)]
             + [("diffusion", "confidence", n) for n in (8, 32, 128)]
             + [("diffusion", "default", 64), ("autoregressive", "kv-cache", 255), ("autoregressive", "no cache", 255)])


def with_error(row: dict, measure: str) -> str:
    """A quality measure of race.json with its standard error over the texts."""
    return f"{row[measure]:.3f} ± {row[measure + '_se']:.3f}"


def race_table() -> str:
    record = load("race.json")
    rows = {(r["model"], r["strategy"], r["steps"]): r for r in record["rows"]}
    # race.json names the default sampler only "default"; race.py ran cli.DEFAULT_SAMPLER, so say what it is.
    default = f"default ({DEFAULT_SAMPLER['strategy']}, choice T {DEFAULT_SAMPLER['choice_temperature']:g})"
    body = []
    for model, strategy, steps in RACE_ROWS:
        r = rows[(model, strategy, steps)]
        body.append([model, default if strategy == "default" else strategy, steps, f"{r['batch_seconds']:.3f}",
                     f"{r['single_seconds']:.3f}", f"{r['chars_per_second']:.0f}", with_error(r, "word_fraction"),
                     with_error(r, "repeated_4grams")])
    body.append(["real text", *["-"] * 5, *(with_error(record["real_text"], k)
                                            for k in ("word_fraction", "repeated_4grams"))])
    return table(["model", "strategy", "steps", f"{record['samples']} texts (s)", "1 text (s)", "chars/s",
                  "real words", "repeated 4-grams"], body)


# --- How tight is the bound ----------------------------------------------------------------------

BOUND_COLUMNS = ["nelbo", "left_to_right", "twin", "nelbo_minus_left_to_right", "left_to_right_minus_twin"]


def bound_table() -> str:
    r = load("bound.json")
    pair = "shipped pair" if r["checkpoint"] == r["twin_checkpoint"] == "shipped" else \
        f"{r['checkpoint']} and {r['twin_checkpoint']}"
    cells = [f"{r[c]['mean']:.3f} ± {r[c]['standard_error']:.3f}" for c in BOUND_COLUMNS]
    return table([f"{r['windows']} windows, bits/char", "NELBO", "left to right", "twin",
                  "NELBO - left to right", "left to right - twin"], [[pair, *cells]])


def epochs_table() -> str:
    """Where each run's validation estimate was lowest, and where the run ended, in epochs read."""
    rows = []
    for label, run in load("epochs.json").items():
        best, last = lowest(run["points"]), run["points"][-1]
        rows.append([label, run["validated_on"], f"{best['val_bpc']:.3f}", f"{best['epochs']:.1f}",
                     f"{last['val_bpc']:.3f}", f"{last['epochs']:.1f}"])
    return table(["run", "validated on", "lowest bits/char", "at epochs", "last bits/char", "at epochs"], rows)


# --- Samplers ------------------------------------------------------------------------------------

# The candidates the README shows, in its order; results/sampler-study.json has all of them.
SAMPLER_ROWS = ["ancestral-64", "ancestral-64, float32 noise", "ancestral-64, T 0.8, top-p 0.9",
                "ReMDM-cap 0.02, top-p 0.9", "confidence-64", "confidence-64, choice T 1",
                "confidence-64, choice T 1.5", "confidence-64, choice T 2"]


def samplers_table() -> str:
    study = load("sampler-study.json")
    rows = []
    for name in SAMPLER_ROWS:
        candidate = study["candidates"][name]
        rows.append([name, error(candidate["words"]), f"{candidate['repeats_x_real']:.2f}",
                     f"{candidate['time_x_baseline']:.2f}"])
    rows.append(["real text", error(study["real"]["words"]), f"{1.0:.2f}", "-"])  # its own repetition; not timed
    return table(["candidate (shipped denoiser)", "real words", "repeats (x real)", "time (x)"], rows)


# --- The live sampler in the browser -------------------------------------------------------------

def browser_timing_table() -> str:
    r = load("browser_sampler.json")
    model, t = r["model"], r["timing"]
    row = [f"{model['dtype']}, {model['bytes'] / 1e6:.1f} MB",
           ", ".join(f"{s:.2f}" for s in t["first_sample_s"]) + " s",
           ", ".join(f"{ms / 1000:.2f}" for ms in t["load_ms"]) + " s",
           span(t["first_step_ms"], 0) + " ms",
           f"{t['median_step_ms']:.0f} ms ({t['warm_median_step_ms']:.0f} warm)",
           span(t["warm_sample_s"], 2) + " s"]
    return table(["model file", "first sample (cold)", "of which loading", "first step",
                  "later steps (median)", "warm run"], [row])


def browser_quality_table() -> str:
    q = load("browser_sampler.json")["quality"]
    rows = [[label, error(q[key]["real_words"]), error(q[key]["repeated_4grams"])]
            for key, label in (("browser", "browser (ONNX Runtime Web)"), ("pytorch", "PyTorch"))]
    return table([f"{q['n_samples']} samples", "real words", "repeated 4-grams"], rows)


# --- recipes.md: the ablations behind the CPU recipes -------------------------------------------

# sweep.py's rows as recipe-search.log names them (an earlier version of the script), with what each changes.
SWEEP_ROWS = [("L4-adamw", "b32base", "4 layers, AdamW lr 0.003, batch 32 x 128"), ("L3-adamw", "L3", "3 layers"),
              ("L2-adamw", "L2", "2 layers"), ("L2-muon-3e-3", "L2muon", "2 layers, Muon lr 0.003"),
              ("L2-muon-1e-2", "L2muon1e2", "2 layers, Muon lr 0.01"),
              ("L2-muon-2e-2", "L2muon2e2", "2 layers, Muon lr 0.02"),
              ("L1-muon-1e-2", "L1muon", "1 layer, Muon lr 0.01"),
              ("L2-d192-muon", "L2d192muon", "2 layers, d=192, Muon lr 0.01"),
              ("L2-T64-muon", "T64", "2 layers, windows of 64 (batch 64), Muon lr 0.01"),
              ("L2-T256-muon", "T256", "2 layers, windows of 256 (batch 16), Muon lr 0.01")]


def sweep_log(path: Path = RESULTS / "recipe-search.log") -> dict[str, tuple[int, float]]:
    """Each run of the log by name: (its last step, its validation estimate there). A run is a
    line `name {settings} wall ...` followed by lines `step seconds bits/char`."""
    runs, name = {}, None
    for line in path.read_text().splitlines():
        if not line.startswith(" "):
            name = line.split()[0]
        else:
            step, _seconds, bpc = line.split()
            runs[name] = (int(step), float(bpc))
    return runs


def sweep_table() -> str:
    runs = sweep_log()
    best = min(runs[logged][1] for _, logged, _ in SWEEP_ROWS)
    rows = [[row, logged, setting, runs[logged][0],
             f"**{runs[logged][1]:.3f}**" if runs[logged][1] == best else f"{runs[logged][1]:.3f}"]
            for row, logged, setting in SWEEP_ROWS]
    return table(["`sweep.py` row", "in the log", "setting", "steps", "validation bits/char"], rows)


# The runs of each window schedule compared (their settings say which schedule), and the recipe's run.
WINDOW_RUNS = [["windows-128", "windows-128-again"], ["W1", "W2"], ["W3", "W3-again"], ["W4"], ["W5", "cpu-25min-box-a"]]
RECIPE_RUN = "W5"


def ablation(name: str) -> dict:
    return load(f"ablations-25min/{name}.json")


def nelbo(run: dict) -> str:
    return f"{run['val_nelbo_bits_per_char']:.4f} ± {run['val_stderr']:.4f}"


def schedule(settings: dict) -> tuple[str, int]:
    """A run's window schedule in words, e.g. "64, 128 from 0.6", and its context length."""
    context = {**PRESETS[settings["preset"]], **settings.get("model", {})}["block_size"]
    phases = settings.get("window_schedule")
    if not phases:
        return f"{context} throughout", context
    return ", ".join(f"{w}" if start == 0 else f"{w} from {start:g}" for start, w in phases), context


def windows_table() -> str:
    rows = []
    for names in WINDOW_RUNS:
        runs = {name: ablation(name) for name in names}
        (windows, context), = {schedule(run["settings"]) for run in runs.values()}  # one schedule per row
        files = [f"`{name}.json`" + ("" if run["settings"].get("compile") else " (no compile)")
                 for name, run in runs.items()]
        scores = [f"**{nelbo(run)}**" if name == RECIPE_RUN else nelbo(run) for name, run in runs.items()]
        rows.append([windows + (" (the recipe)" if RECIPE_RUN in runs else ""), context, "; ".join(files),
                     "; ".join(f"{r['steps']:,}" for r in runs.values()), "; ".join(scores)])
    return table(["windows (from fraction of the budget)", "context", "file", "steps",
                  "validation NELBO (bits/char)"], rows)


def gradient_noise_table() -> str:
    """Both gradient_noise.py runs side by side: windows and masks vary, then masks only."""
    (header, *fresh), = markdown_tables((RESULTS / "gradient-noise.txt").read_text().splitlines())
    (_, *same), = markdown_tables((RESULTS / "gradient-noise-same-windows.txt").read_text().splitlines())
    col = {name: i for i, name in enumerate(header)}
    rows = [[a[0], a[col["gradient variance"]], a[col["relative to any-order"]], b[col["gradient variance"]],
             b[col["relative to any-order"]], a[col["sum of squared weights"]]] for a, b in zip(fresh, same)]
    return table(["estimator", "gradient variance", "relative to any-order", "masks vary only: variance",
                  "relative", "sum of squared weights"], rows)


# --- Numbers in the prose ----------------------------------------------------------------------

def draws_32() -> str:
    """The 25-minute recipe's checkpoint scored with 32 draws: the last such line in the file."""
    lines = (RESULTS / "ablations-25min" / "draws-32.txt").read_text().splitlines()
    result = [json.loads(line) for line in lines if '"runs/cpu-25min"' in line][-1]["result"]
    return f"{result['bits_per_char']:.4f} ± {result['stderr']:.4f}"


def sampler_bars() -> str:
    bars = load("sampler-study.json")["bars"]
    return (f"at least {bars['words']:.2f} real words, at most {bars['repeats_x_real']:g}x real repetition "
            f"and {bars['time_x_baseline']:g}x the time")


VALUES = {"draws-32": draws_32,
          "box-b": lambda: f"{ablation('box-b-recipe')['steps']:,} steps, {nelbo(ablation('box-b-recipe'))}",
          "box-b-peak": lambda: f"{ablation('box-b-recipe')['machine']['matmul_peak_gflops']['bf16']}", "sampler-bars": sampler_bars,
          "default-choice-temperature": lambda: f"{DEFAULT_SAMPLER['choice_temperature']:g}",
          "browser-load": lambda: f"{load('browser_sampler.json')['machine']['load_average']:.1f}",
          "browser-version": lambda: load("browser_sampler.json")["machine"]["browser"].split(".")[0]}


def render_values(text: str) -> tuple[str, list[str]]:
    """The text with every marked value rendered anew, and the names of those that changed."""
    changed = [f"value {name} (no such value)" for name, _ in VALUE.findall(text) if name not in VALUES]

    def render(match):
        name, old = match.groups()
        if name not in VALUES:
            return match.group(0)
        new = VALUES[name]()
        if new != old:
            changed.append(f"value {name}")
        return f"<!-- value: {name} -->{new}<!-- /value -->"
    return VALUE.sub(render, text), changed


TABLES = {"sweep": sweep_table, "windows": windows_table, "gradient-noise": gradient_noise_table,
          "throughput": throughput_table, "attention": attention_table, "quality": quality_table,
          "shipped": shipped_table, "race": race_table, "bound": bound_table, "epochs": epochs_table, "samplers": samplers_table,
          "browser-timing": browser_timing_table, "browser-quality": browser_quality_table}


# --- The pages' marked tables ------------------------------------------------------------------

def marked(lines: list[str]) -> list[tuple[str, int, int]]:
    """(name, first, end) of each marked table: lines[first:end] are the `|` lines after the marker."""
    found = []
    for i, line in enumerate(lines):
        if match := MARKER.match(line):
            end = i + 1
            while end < len(lines) and lines[end].startswith("|"):
                end += 1
            found.append((match.group(1), i + 1, end))
    return found


def render_page(text: str) -> tuple[str, list[str]]:
    """A page with every marked table and value rendered anew, and those that changed (a marker
    naming no renderer counts as a change too)."""
    lines, changed = text.split("\n"), []
    for name, first, end in reversed(marked(lines)):  # from the bottom, so earlier indices hold
        if name not in TABLES:
            changed.append(f"table {name} (no such table)")
            continue
        new = TABLES[name]().split("\n")
        if lines[first:end] != new:
            changed.append(f"table {name}")
            lines[first:end] = new
    text, changed_values = render_values("\n".join(lines))
    return text, changed + changed_values


def unmarked(texts: list[str]) -> list[str]:
    """Renderers that no page marks, and tables marked more than once: each table has one home."""
    tables = [name for text in texts for name, _, _ in marked(text.split("\n"))]
    values = {name for text in texts for name, _ in VALUE.findall(text)}
    return ([f"table {name} (no marker)" for name in TABLES if name not in tables]
            + [f"table {name} (marked {tables.count(name)} times)" for name in sorted(set(tables))
               if tables.count(name) > 1]
            + [f"value {name} (no marker)" for name in VALUES if name not in values])


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    mode = p.add_mutually_exclusive_group()
    mode.add_argument("--write", action="store_true", help="rewrite the marked tables and values in the pages")
    mode.add_argument("--check", action="store_true", help="exit 1 if a marked table or value differs from its rendering")
    p.add_argument("--pages", type=Path, nargs="+", default=list(PAGES))
    args = p.parse_args(argv)
    if not (args.write or args.check):
        print("\n\n".join(f"<!-- table: {name} -->\n{render()}" for name, render in TABLES.items()))
        print("\n".join(f"\n<!-- value: {name} -->{render()}<!-- /value -->" for name, render in VALUES.items()))
        return 0
    texts = [page.read_text() for page in args.pages]
    problems = unmarked(texts)
    for page, text in zip(args.pages, texts):
        new, changed = render_page(text)
        if args.check:
            problems += [f"{page}: {name} differs from what benchmarks/tables.py renders" for name in changed]
        elif changed:
            page.write_text(new)
            print(f"{page}: rewrote {', '.join(changed)}")
    print("\n".join(problems) if problems else "every marked table and value is current")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
