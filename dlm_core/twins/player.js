// Unmasking player (viz.player_twin): replays runs, a cell shown once revealed_at <= k as in viz.frame_cells. viz defines root (the view's div) and data = {runs: [{label, steps, cells: [[char, revealed_at, {step, confidence}]]}], glyph, masked, legend, start, interval}.
const $ = (c) => root.querySelector("." + c);
const runSel = $("run"), slider = $("k"), colourBy = $("colour-by"), play = $("play");
let run = data.runs[0], timer = null;
data.runs.forEach((r, i) => runSel.add(new Option(r.label, i)));
if (data.runs.length < 2) runSel.style.display = "none";
function draw() {
  const k = parseInt(slider.value), by = colourBy.value, canvas = $("canvas");
  canvas.textContent = "";
  let left = 0;
  run.cells.forEach(([c, r, colours]) => {
    const span = document.createElement("span"), shown = r <= k;
    span.textContent = shown ? c : data.glyph;
    span.style.background = shown ? colours[by] : data.masked;
    left += !shown;
    canvas.appendChild(span);
  });
  $("caption").textContent = "step " + k + " of " + run.steps + ", t = " +
    (1 - k / run.steps).toFixed(3) + ", " + left + " masked";
  $("legend").textContent = data.legend[by];
}
function go(k) { slider.value = Math.max(0, Math.min(run.steps, k)); draw(); }
function stop() { clearInterval(timer); timer = null; play.textContent = "play"; }
function load() { stop(); run = data.runs[runSel.value]; slider.max = run.steps; go(0); }
play.addEventListener("click", () => {
  if (timer) return stop();
  if (parseInt(slider.value) >= run.steps) go(0);
  play.textContent = "pause";
  timer = setInterval(() => {
    go(parseInt(slider.value) + 1);
    if (parseInt(slider.value) >= run.steps) stop();
  }, data.interval);
});
$("back").addEventListener("click", () => { stop(); go(parseInt(slider.value) - 1); });
$("next").addEventListener("click", () => { stop(); go(parseInt(slider.value) + 1); });
slider.addEventListener("input", () => { stop(); draw(); });
colourBy.addEventListener("change", draw);
runSel.addEventListener("change", load);
load(); go(data.start === "end" ? run.steps : 0);
