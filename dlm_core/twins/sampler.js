// The reverse process in JavaScript (viz.live_sampler): dlm_core/sampler.py's `sample`, function for function, so the browser samples as the library does. Defines globalThis.dlmSampler (the browser check calls it).
const dlmSampler = (() => {  // its own scope: the view's script (live.js) follows in the same function
// Ids are plain arrays; logits are a flat Float32Array of T * V numbers (position-major, as the
// ONNX graph returns them). Randomness comes from `uniform()`, called in the order PyTorch's
// generator is drawn from in sampler.py (the browser check passes PyTorch's own uniforms).
const f32 = Math.fround;  // PyTorch computes alpha_t in float32: round where it rounds

// masking.alpha: the probability that a character is still visible at time t.
function alpha(t, schedule) {
  t = f32(t);
  if (schedule === "linear") return f32(1 - t);
  if (schedule !== "cosine") throw new Error("unknown schedule '" + schedule + "'; choose one of linear, cosine");
  return t < 0.5 ? f32(1 - f32(Math.sin(f32(f32(Math.PI / 2) * t))))
                 : f32(2 * f32(Math.sin(f32(f32(Math.PI / 4) * f32(1 - t)))) ** 2);
}

// torch.round: halves go to the even neighbour (Math.round would send 2.5 to 3).
function roundHalfEven(x) {
  const r = Math.round(x);
  return Math.abs(x % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

// sampler.make_canvas with tokenizer.encode: a text with `hole` characters is an infill
// template (its own length); any other text is a prompt followed by masks up to `length`.
function makeCanvas(text, length, vocabulary, maskId, hole = "_") {
  const template = text.includes(hole), chars = Array.from(text);
  if (!template && length < 1) throw new Error("length must be at least 1, got " + length);
  if (!template && chars.length > length)
    throw new Error("the prompt has " + chars.length + " characters, more than length=" + length +
                    "; shorten it or raise --length");
  const ids = chars.map((c, i) => {
    if (template && c === hole) return maskId;
    const id = vocabulary.indexOf(c);
    if (id < 0) throw new Error("character '" + c + "' at position " + i + " is not in the vocabulary (" +
                                vocabulary.length + " characters of the training text); remove or replace it");
    return id;
  });
  while (!template && ids.length < length) ids.push(maskId);
  return ids;
}

// sampler._check: the settings a reader can type, checked before any work.
function check(length, blockSize, o) {
  if (length > blockSize)
    throw new Error("length " + length + " is longer than the model's context (" + blockSize + ")");
  if (!Object.hasOwn(STRATEGIES, o.strategy))
    throw new Error("unknown strategy '" + o.strategy + "'; choose one of " + Object.keys(STRATEGIES).join(", "));
  if (!(Number.isInteger(o.steps) && o.steps >= 1)) throw new Error("steps must be a positive integer, got " + o.steps);
  if (!(o.temperature >= 0)) throw new Error("temperature must be >= 0, got " + o.temperature);
  if (o.topK != null && !(Number.isInteger(o.topK) && o.topK >= 1))
    throw new Error("top_k must be an integer >= 1, got " + o.topK);
  if (o.topP != null && !(o.topP > 0 && o.topP <= 1)) throw new Error("top_p must lie in (0, 1], got " + o.topP);
  if (!(o.choiceTemperature >= 0)) throw new Error("choice_temperature must be >= 0, got " + o.choiceTemperature);
  if (o.choiceTemperature && o.strategy !== "confidence")
    throw new Error("choice_temperature ranks confidence decoding's choices; use it with strategy='confidence'");
}

function softmax(row) {
  const m = Math.max(...row), e = row.map((x) => Math.exp(x - m)), sum = e.reduce((a, b) => a + b, 0);
  return e.map((x) => x / sum);
}

// sampler.filter_logits on each position's row: keep the top_k largest and/or the smallest set
// whose probability reaches top_p; the others become -Infinity.
function filterLogits(logits, V, topK, topP) {
  const out = Float64Array.from(logits);
  for (let i = 0; i < out.length; i += V) {
    const row = out.subarray(i, i + V);
    if (topK != null) {
      const kth = Array.from(row).sort((a, b) => b - a)[Math.min(topK, V) - 1];
      row.forEach((x, v) => { if (x < kth) row[v] = -Infinity; });
    }
    if (topP != null) {
      const order = Array.from(row.keys()).sort((a, b) => row[b] - row[a]), p = softmax(order.map((v) => row[v]));
      let before = 0;  // the mass of the more likely characters: drop this one once it reaches top_p
      order.forEach((v, j) => { if (before >= topP) row[v] = -Infinity; before += p[j]; });
    }
  }
  return out;
}

// -log(-log u): Gumbel noise from a uniform, in float64 like sampler.draw and sampler.choice_noise.
const gumbel = (u) => -Math.log(-Math.log(Math.max(u, 1e-300)));

// sampler.draw: a guess x0_hat at every position, by Gumbel-max at temperature > 0 (V uniforms
// per position) or argmax at 0, and the probability it had. Probabilities are float32, as PyTorch
// stores them; the noise is added in float64.
function draw(logits, V, temperature, uniform) {
  const x0Hat = [], conf = [];
  for (let i = 0; i < logits.length; i += V) {
    const row = Array.from(logits.subarray(i, i + V));
    const probs = softmax(temperature === 0 ? row : row.map((x) => x / temperature)).map(f32);
    const score = temperature === 0 ? row : probs.map((p) => Math.log(p) + gumbel(uniform()));
    const best = score.indexOf(Math.max(...score));  // the first maximum, as torch.argmax
    x0Hat.push(best);
    conf.push(probs[best]);
  }
  return { x0Hat, conf };
}

// The strategies: which masked positions (`active`) to reveal from t to s. One function each,
// named as in sampler.STRATEGIES; the view's menu lists them.
const STRATEGIES = {
  // sampler.reveal_ancestral: each independently with probability (alpha_s - alpha_t) / (1 - alpha_t).
  ancestral({ active, aS, aT, uniform }) {
    return active.map((a) => uniform() < (aS - aT) / (1 - aT) && a);  // one uniform per position, always
  },
  // sampler.reveal_confidence: the most confident ones, leaving round(n_masked0 (1 - alpha_s)) masked,
  // ranked by log-confidence plus sampler.choice_noise (T uniforms, scale choiceTemperature * t).
  confidence({ active, conf, nMasked0, aS, t, choiceTemperature, uniform }) {
    const scale = choiceTemperature * t;
    const noise = active.map(() => (scale === 0 ? 0 : f32(gumbel(uniform()) * scale)));
    const score = active.map((a, i) => (a ? f32(f32(Math.log(Math.max(conf[i], 1e-30))) + noise[i]) : -Infinity));
    const keep = roundHalfEven(f32(nMasked0 * f32(1 - aS)));
    const nReveal = active.filter(Boolean).length - keep;
    const order = active.map((_, i) => i).sort((i, j) => (score[j] - score[i]) || 0);  // NaN (-inf - -inf): a tie
    const reveal = active.map(() => false);  // the sort is stable: equal scores go left first
    order.slice(0, Math.max(nReveal, 0)).forEach((i) => { reveal[i] = active[i]; });
    return reveal;
  },
};

// sampler.sample for one sample (no blocks): `denoise(xt)` resolves to the logits of xt.
// After each step `onStep({step, xt, revealedAt, confidence})` may draw the canvas.
async function sample(denoise, canvas, V, maskId, o, uniform = Math.random, onStep = () => {}) {
  let xt = canvas.slice(), logits = null, logitsFor = null;
  const revealedAt = xt.map(() => 0), confidence = xt.map(() => 1);
  const nMasked0 = xt.filter((id) => id === maskId).length, n = nMasked0 ? o.steps : 0;
  for (let j = 0; j < n; j++) {  // one reverse step, from t to s
    const t = 1 - j / n, s = 1 - (j + 1) / n;
    // The model ignores t: while xt is unchanged, its logits are too.
    if (logitsFor === null || logitsFor.some((id, i) => id !== xt[i])) {
      logits = filterLogits(await denoise(xt), V, o.topK, o.topP);
      logitsFor = xt.slice();
    }
    const { x0Hat, conf } = draw(logits, V, o.temperature, uniform);
    const aT = alpha(t, o.schedule), aS = alpha(s, o.schedule), active = xt.map((id) => id === maskId);
    const reveal = STRATEGIES[o.strategy]({ active, conf, nMasked0, aS, aT, t, uniform,
                                            choiceTemperature: o.choiceTemperature });
    xt = xt.map((id, i) => (reveal[i] ? x0Hat[i] : id));
    reveal.forEach((r, i) => { if (r) { revealedAt[i] = j + 1; confidence[i] = conf[i]; } });
    await onStep({ step: j + 1, xt, revealedAt, confidence });
  }
  return { ids: xt, revealedAt, confidence, steps: n };
}

return { alpha, roundHalfEven, makeCanvas, check, filterLogits, draw, STRATEGIES, sample };
})();
globalThis.dlmSampler = dlmSampler;
