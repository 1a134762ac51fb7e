// Naive JavaScript references of the engine's ops (double precision, plain loops), the oracle of
// test/ops-cpu*.test.mjs. Layouts as in engine/backend.h: NHWC activations, linear weights
// [N, K], conv weights [Cout, KH, KW, Cin]. Arrays are flat; shapes are passed alongside.
import { mulberry32 } from './random.mjs';

// n deterministic uniform numbers in [lo, hi).
export function randArray(n, seed, lo = -1, hi = 1) {
  const r = mulberry32(seed);
  return Float32Array.from({ length: n }, () => lo + (hi - lo) * r());
}

// erf to ~1e-15: Taylor series below 2.5, continued fraction of erfc above.
export function erf(x) {
  const ax = Math.abs(x);
  if (ax < 2.5) {
    let sum = 0;
    let term = ax; // x^(2n+1) / n!
    for (let n = 0; n < 200; n++) {
      const t = term / (2 * n + 1);
      sum += n % 2 ? -t : t;
      if (Math.abs(t) < 1e-17 * Math.abs(sum)) break;
      term *= (ax * ax) / (n + 1);
    }
    return (Math.sign(x) * 2 * sum) / Math.sqrt(Math.PI);
  }
  let f = ax;
  for (let n = 80; n >= 1; n--) f = ax + n / 2 / f;
  const erfc = Math.exp(-ax * ax) / Math.sqrt(Math.PI) / f;
  return Math.sign(x) * (1 - erfc);
}

const sigmoid = (x) => 1 / (1 + Math.exp(-x));

export function activate(x, act) {
  switch (act) {
    case 'silu': return x * sigmoid(x);
    case 'gelu': return 0.5 * x * (1 + erf(x / Math.SQRT2));
    case 'gelu_tanh': return 0.5 * x * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (x + 0.044715 * x * x * x)));
    case 'quick_gelu': return x * sigmoid(1.702 * x);
    case 'none': case undefined: return x;
    default: throw new Error(`unknown activation ${act}`);
  }
}

// out[m, n] = act(Σ_k x[m, k] w[n, k] + bias[n]) + residual[m, n]
export function linearRef(x, w, { m, k, n, bias, act, residual }) {
  const out = new Float64Array(m * n);
  for (let i = 0; i < m; i++) {
    for (let j = 0; j < n; j++) {
      let s = bias ? bias[j] : 0;
      for (let t = 0; t < k; t++) s += x[i * k + t] * w[j * k + t];
      s = activate(s, act);
      out[i * n + j] = residual ? s + residual[i * n + j] : s;
    }
  }
  return out;
}

export function convOutSize(size, kernel, stride, pad, padEnd = pad) {
  return Math.floor((size + pad + padEnd - kernel) / stride) + 1;
}

// x [N, H, W, Cin], w [Cout, KH, KW, Cin] -> (conv + bias + frameBias + residual) * outScale
export function conv2dRef(x, w, { n, h, wd, cin, cout, kh, kw, stride = 1, pad = 0, padEnd = pad, bias, frameBias, residual, outScale = 1 }) {
  const ho = convOutSize(h, kh, stride, pad, padEnd);
  const wo = convOutSize(wd, kw, stride, pad, padEnd);
  const out = new Float64Array(n * ho * wo * cout);
  for (let b = 0; b < n; b++)
    for (let oy = 0; oy < ho; oy++)
      for (let ox = 0; ox < wo; ox++)
        for (let co = 0; co < cout; co++) {
          let s = 0;
          for (let ky = 0; ky < kh; ky++) {
            const iy = oy * stride - pad + ky;
            if (iy < 0 || iy >= h) continue;
            for (let kx = 0; kx < kw; kx++) {
              const ix = ox * stride - pad + kx;
              if (ix < 0 || ix >= wd) continue;
              const xo = ((b * h + iy) * wd + ix) * cin;
              const wo_ = ((co * kh + ky) * kw + kx) * cin;
              for (let ci = 0; ci < cin; ci++) s += x[xo + ci] * w[wo_ + ci];
            }
          }
          const o = ((b * ho + oy) * wo + ox) * cout + co;
          if (bias) s += bias[co];
          if (frameBias) s += frameBias[b * cout + co];
          if (residual) s += residual[o];
          out[o] = s * outScale;
        }
  return { out, ho, wo };
}

// x [N, P, C] (P = H·W), statistics per frame and group, biased variance.
export function groupNormRef(x, gamma, beta, { n, p, c, groups, eps = 1e-5, silu = false }) {
  const out = new Float64Array(x.length);
  const cg = c / groups;
  for (let b = 0; b < n; b++)
    for (let g = 0; g < groups; g++) {
      let mean = 0;
      for (let i = 0; i < p; i++) for (let j = g * cg; j < (g + 1) * cg; j++) mean += x[(b * p + i) * c + j];
      mean /= p * cg;
      let v = 0;
      for (let i = 0; i < p; i++)
        for (let j = g * cg; j < (g + 1) * cg; j++) v += (x[(b * p + i) * c + j] - mean) ** 2;
      v /= p * cg;
      const rstd = 1 / Math.sqrt(v + eps);
      for (let i = 0; i < p; i++)
        for (let j = g * cg; j < (g + 1) * cg; j++) {
          const o = (b * p + i) * c + j;
          const y = (x[o] - mean) * rstd * gamma[j] + beta[j];
          out[o] = silu ? y * sigmoid(y) : y;
        }
    }
  return out;
}

export function layerNormRef(x, gamma, beta, { rows, c, eps = 1e-5 }) {
  const out = new Float64Array(x.length);
  for (let r = 0; r < rows; r++) {
    let mean = 0;
    for (let j = 0; j < c; j++) mean += x[r * c + j];
    mean /= c;
    let v = 0;
    for (let j = 0; j < c; j++) v += (x[r * c + j] - mean) ** 2;
    v /= c;
    const rstd = 1 / Math.sqrt(v + eps);
    for (let j = 0; j < c; j++) out[r * c + j] = (x[r * c + j] - mean) * rstd * gamma[j] + beta[j];
  }
  return out;
}

// Attention with the image-prompt policy of backend.h, one softmax per term, in double.
// q [B, Lq, qw], k/v [B, Lk, kw/vw]; kRef/vRef [R, Lr, *]; windows qCol/kCol/vCol (refCol for
// the cache, default the same as k/v); out [B, Lq, heads·d].
export function attentionRef(q, k, v, o) {
  const { b: frames, lq, lk, heads, d, qw, kw, vw, causal = false, mode = 'none', ref = [], scale = 1 / Math.sqrt(d) } = o;
  const { qCol = 0, kCol = 0, vCol = 0, lambdaRef = 1, lambdaSelf = 1 } = o;
  const width = heads * d;
  const out = new Float64Array(frames * lq * width);
  const own = (bi) => ({ k, v, frame: bi, len: lk, kw, vw, kc: kCol, vc: vCol, causal });
  const refSrc = (r) =>
    o.kRef
      ? { k: o.kRef, v: o.vRef, frame: r, len: o.lr, kw: o.krw, vw: o.vrw, kc: o.krCol ?? 0, vc: o.vrCol ?? 0, causal: false }
      : { k, v, frame: r, len: lk, kw, vw, kc: kCol, vc: vCol, causal: false };
  // softmax(q·K) V over the concatenation of `srcs`
  const attend = (qi, pos, h, srcs) => {
    const scores = [];
    const rows = [];
    let mx = -Infinity;
    for (const s of srcs) {
      for (let j = 0; j < s.len; j++) {
        if (s.causal && j > pos) continue;
        const ko = (s.frame * s.len + j) * s.kw + s.kc + h * d;
        let dot = 0;
        for (let c = 0; c < d; c++) dot += q[qi + c] * s.k[ko + c];
        dot *= scale;
        if (dot > mx) mx = dot;
        scores.push(dot);
        rows.push(s.v, (s.frame * s.len + j) * s.vw + s.vc + h * d);
      }
    }
    let sum = 0;
    for (let i = 0; i < scores.length; i++) sum += scores[i] = Math.exp(scores[i] - mx);
    const res = new Float64Array(d);
    for (let i = 0; i < scores.length; i++) {
      const vs = rows[2 * i];
      const off = rows[2 * i + 1];
      const p = scores[i] / sum;
      for (let c = 0; c < d; c++) res[c] += p * vs[off + c];
    }
    return res;
  };
  for (let bi = 0; bi < frames; bi++) {
    const r = mode !== 'none' && ref.length ? ref[bi] : -1;
    for (let h = 0; h < heads; h++)
      for (let i = 0; i < lq; i++) {
        const qi = (bi * lq + i) * qw + qCol + h * d;
        let res;
        if (r < 0) res = attend(qi, i, h, [own(bi)]);
        else if (mode === 'concat') res = attend(qi, i, h, [refSrc(r), own(bi)]);
        else if (mode === 'replace') res = attend(qi, i, h, [refSrc(r)]);
        else {
          const a = attend(qi, i, h, [refSrc(r)]);
          const s = attend(qi, i, h, [own(bi)]);
          res = a.map((x, c) => (lambdaRef * x + lambdaSelf * s[c]) / (lambdaRef + lambdaSelf));
        }
        for (let c = 0; c < d; c++) out[(bi * lq + i) * width + h * d + c] = res[c];
      }
  }
  return out;
}
