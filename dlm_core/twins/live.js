// Live sampler (viz.live_sampler): the exported denoiser run by ONNX Runtime Web, sampler.js's reverse process, the canvas drawn after every step as player.js draws it. viz defines root (the view's div) and data = {text, length, steps, temperature, strategy, top_k, top_p, choice_temperature, schedule, glyph, newline, masked, given, ramps, legend}; sampler.js comes before this file.
const $ = (c) => root.querySelector("." + c);
const play = $("play"), slider = $("k"), colourBy = $("colour-by"), status = $("status");
let run = null;  // what the canvas shows: {ids, revealedAt, confidence, steps, step, chars, maskId}
$("text").value = data.text;
$("length").value = data.length;
$("steps").value = data.steps;
$("temperature").value = data.temperature;
$("top-k").value = data.top_k ?? "";
$("top-p").value = data.top_p ?? "";
$("choice").value = data.choice_temperature;
Object.keys(dlmSampler.STRATEGIES).forEach((name) => $("strategy").add(new Option(name, name)));
$("strategy").value = data.strategy;

// Where the model cannot run, say why in one line and show the replay of runs made in advance.
function fallBack(why) {
  $("live").hidden = true;
  $("fallback").hidden = false;
  status.textContent = why + " Below, a replay of runs made in advance.";
}

// book/live/build.py puts the model and ONNX Runtime Web in _static/live/ of the built book;
// Sphinx writes the way from this page to the book's root on <html data-content_root>.
function liveDir() {
  const rootPath = document.documentElement.dataset.content_root;
  if (location.protocol === "file:")
    throw new Error("This page was opened from a file, where browsers do not run the model: " +
                    "serve the book (python -m http.server -d _build/html) to sample live.");
  if (rootPath === undefined || typeof WebAssembly !== "object")
    throw new Error("The live sampler runs in the built book, in a browser with WebAssembly.");
  return new URL(rootPath + "_static/live/", location.href).href;
}

function loadScript(src) {
  return new Promise((resolve, reject) => {
    const script = Object.assign(document.createElement("script"), { src, onload: resolve });
    script.onerror = () => reject(new Error("cannot load " + src));
    document.head.appendChild(script);
  });
}

// Once per page (every view on it shares the model): live.json says what build.py wrote.
async function loadModel(dir) {
  const started = performance.now(), response = await fetch(dir + "live.json");
  if (!response.ok) throw new Error("the book was built without the live model");
  const info = await response.json();
  if (!info.ort) throw new Error(info.missing);
  if (!globalThis.ort) await loadScript(dir + info.ort);
  ort.env.wasm.wasmPaths = dir;  // the .wasm and its loader, from the book, never from a CDN
  ort.env.wasm.numThreads = 1;  // more need cross-origin isolation, which GitHub Pages cannot set
  const session = await ort.InferenceSession.create(dir + info.model, { executionProviders: ["wasm"] });
  const denoise = async (xt) => {  // xt (1, T) int64 -> logits (1, T, V), flat
    const feed = { xt: new ort.Tensor("int64", BigInt64Array.from(xt, BigInt), [1, xt.length]) };
    return (await session.run(feed)).logits.data;
  };
  return { ...info, denoise, loadMs: performance.now() - started };
}

// viz.ramp and viz.cell_colour.
function ramp(x, [a, b]) {
  const channel = (hex, j) => parseInt(hex.slice(1 + 2 * j, 3 + 2 * j), 16);
  return "#" + [0, 1, 2].map((j) => dlmSampler.roundHalfEven(channel(a, j) + (channel(b, j) - channel(a, j)) * x)
    .toString(16).padStart(2, "0")).join("");
}
function cellColour(r, p, steps, by) {
  if (r === 0) return data.given;
  return by === "step" ? ramp((r - 1) / Math.max(steps - 1, 1), data.ramps.step) : ramp(p, data.ramps.confidence);
}

// The canvas after k steps, as viz.frame_cells: a position shows once revealed_at <= k.
function drawFrame(k) {
  const canvas = $("canvas"), by = colourBy.value;
  canvas.textContent = "";
  let left = 0;
  run.ids.forEach((id, i) => {
    const span = document.createElement("span"), r = run.revealedAt[i], shown = id !== run.maskId && r <= k;
    span.textContent = !shown ? data.glyph : run.chars[id] === "\n" ? data.newline : run.chars[id];
    span.style.background = shown ? cellColour(r, run.confidence[i], run.steps, by) : data.masked;
    left += !shown;
    canvas.appendChild(span);
  });
  $("caption").textContent = "step " + k + " of " + run.steps + ", t = " +
    (1 - k / Math.max(run.steps, 1)).toFixed(3) + ", " + left + " masked";
  $("legend").textContent = data.legend[by];
  slider.max = run.step;
  slider.value = k;
}

function settings() {
  const number = (c) => ($(c).value === "" ? null : Number($(c).value));
  return { steps: number("steps"), temperature: number("temperature"), strategy: $("strategy").value,
           topK: number("top-k"), topP: number("top-p"), choiceTemperature: number("choice") ?? 0,
           schedule: data.schedule };
}

// Play: load the model (the first time), build the canvas, run the reverse process, drawing
// every step. The timings stay on root.dlmTimes for the benchmark (benchmarks/browser_sampler.py).
async function sampleLive() {
  let model;
  play.disabled = true;
  try {
    status.textContent = "loading the model and ONNX Runtime Web...";
    model = await (globalThis.dlmLiveModel ??= loadModel(liveDir()));
  } catch (e) {
    return fallBack("The live model could not load here (" + e.message + ").");
  }
  try {
    const o = settings(), chars = model.vocabulary, maskId = model.mask_id;
    const canvas = dlmSampler.makeCanvas($("text").value, Number($("length").value), chars, maskId);
    dlmSampler.check(canvas.length, model.block_size, o);
    const times = (root.dlmTimes = { loadMs: model.loadMs, stepMs: [] });
    run = { ids: canvas, revealedAt: canvas.map(() => 0), confidence: canvas.map(() => 1), steps: o.steps,
            step: 0, chars, maskId };
    drawFrame(0);
    status.textContent = "sampling...";
    let last = performance.now();
    const done = await dlmSampler.sample(model.denoise, canvas, chars.length + 1, maskId, o, Math.random, async (s) => {
      times.stepMs.push(performance.now() - last);
      Object.assign(run, { ids: s.xt, revealedAt: s.revealedAt, confidence: s.confidence, step: s.step });
      drawFrame(s.step);
      await new Promise((resolve) => setTimeout(resolve));  // let the browser paint this step
      last = performance.now();
    });
    root.dlmRun = Object.assign(run, done, { step: done.steps, text: done.ids.map((id) => chars[id]).join("") });
    drawFrame(done.steps);
    const total = times.stepMs.reduce((a, b) => a + b, 0);
    status.textContent = done.steps + " steps in " + (total / 1000).toFixed(2) + " s; drag the slider to replay them.";
  } catch (e) {
    status.textContent = e.message;
  } finally {
    play.disabled = false;
  }
}

function lengthFromText() { $("length").disabled = $("text").value.includes("_"); }  // a template sets its own
$("text").addEventListener("input", lengthFromText);
lengthFromText();
play.addEventListener("click", sampleLive);
slider.addEventListener("input", () => run && drawFrame(parseInt(slider.value)));
colourBy.addEventListener("change", () => run && drawFrame(parseInt(slider.value)));
try {  // say at once when the model cannot run here, before anyone presses play
  liveDir();
  status.textContent = "Press play: the model loads once (a few seconds), then writes in your browser.";
} catch (e) {
  fallBack(e.message);
}
