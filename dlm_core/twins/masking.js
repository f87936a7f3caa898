// Masking-rate slider (viz.masking_twin): hides text[i] while u[i] < 1 - alpha_t, rate() as masking.mask_rate. viz defines root (the view's div) and data = {text, u, t, schedule, glyph}.
const slider = root.querySelector(".t"), schedule = root.querySelector(".schedule");
slider.value = data.t; schedule.value = data.schedule;
function rate(t, s) { return s === "linear" ? t : Math.sin(Math.PI * t / 2); }
function draw() {
  const t = parseFloat(slider.value), r = rate(t, schedule.value);
  let shown = "", hidden = 0;
  for (let i = 0; i < data.text.length; i++) {
    const masked = data.u[i] < r;
    shown += masked ? data.glyph : data.text[i];
    hidden += masked;
  }
  root.querySelector(".t-value").textContent = t.toFixed(2);
  root.querySelector(".canvas").textContent = shown;
  root.querySelector(".stats").textContent = hidden + " of " + data.text.length +
    " masked; expected T(1 - alpha_t) = " + (data.text.length * r).toFixed(1);
}
slider.addEventListener("input", draw); schedule.addEventListener("change", draw);
draw();
