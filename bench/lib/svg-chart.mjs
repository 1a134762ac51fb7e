// Grouped bar charts as standalone SVG text (no dependencies).
//
//   groupedBarChart({
//     title: 'Attention', yLabel: 'TFLOP/s',
//     series: [{ key: 'self/fused', label: 'self (fused)', color: '#1f77b4', hollow: false }, ...],
//     panels: [{ title: 'cuda', groups: [{ label: '4096x40 n=1', values: { 'self/fused': 312.5 } }] }],
//   }) -> '<svg ...>...</svg>'
//
// One panel per row; in each panel one cluster of bars per group, one bar per series (missing
// values leave a gap). Hollow series are drawn as outlines (e.g. the naive variants next to the
// fused ones). Every bar carries its value as a label and a <title> tooltip.

const esc = (s) => String(s).replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

function niceMax(v) {
  if (!(v > 0)) return 1;
  const p = 10 ** Math.floor(Math.log10(v));
  for (const m of [1, 1.2, 1.5, 2, 2.5, 3, 4, 5, 6, 8, 10]) if (m * p >= v) return m * p;
  return 10 * p;
}

function fmt(v) {
  if (!Number.isFinite(v)) return '';
  const a = Math.abs(v);
  return a >= 100 ? v.toFixed(0) : a >= 10 ? v.toFixed(1) : a >= 1 ? v.toFixed(2) : v.toPrecision(2);
}

export function groupedBarChart({ title = '', yLabel = '', series, panels, width = 1100, panelHeight = 300 }) {
  const margin = { left: 70, right: 20, top: 40, bottom: 60 };
  const legendHeight = 22 * Math.ceil(series.length / 4) + 10;
  const height = margin.top + legendHeight + panels.length * (panelHeight + margin.bottom) + 10;
  const plotW = width - margin.left - margin.right;
  const out = [];
  out.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="12">`);
  out.push(`<rect width="${width}" height="${height}" fill="white"/>`);
  out.push(`<text x="${width / 2}" y="24" text-anchor="middle" font-size="16" font-weight="bold">${esc(title)}</text>`);

  // legend
  series.forEach((s, i) => {
    const x = margin.left + (i % 4) * (plotW / 4);
    const y = margin.top + 22 * Math.floor(i / 4);
    out.push(
      s.hollow
        ? `<rect x="${x}" y="${y}" width="14" height="14" fill="white" stroke="${s.color}" stroke-width="2"/>`
        : `<rect x="${x}" y="${y}" width="14" height="14" fill="${s.color}"/>`,
    );
    out.push(`<text x="${x + 20}" y="${y + 12}">${esc(s.label)}</text>`);
  });

  panels.forEach((panel, pi) => {
    const top = margin.top + legendHeight + pi * (panelHeight + margin.bottom);
    const bottom = top + panelHeight;
    let maxV = 0;
    for (const g of panel.groups) for (const s of series) maxV = Math.max(maxV, g.values[s.key] ?? 0);
    const yMax = niceMax(maxV);
    const y = (v) => bottom - (v / yMax) * (panelHeight - 20);
    out.push(`<text x="${margin.left}" y="${top + 4}" font-weight="bold">${esc(panel.title ?? '')}</text>`);
    // axes and grid
    for (let t = 0; t <= 5; t++) {
      const v = (yMax * t) / 5;
      out.push(`<line x1="${margin.left}" x2="${width - margin.right}" y1="${y(v)}" y2="${y(v)}" stroke="#ddd"/>`);
      out.push(`<text x="${margin.left - 6}" y="${y(v) + 4}" text-anchor="end">${fmt(v)}</text>`);
    }
    out.push(`<line x1="${margin.left}" x2="${margin.left}" y1="${top + 10}" y2="${bottom}" stroke="black"/>`);
    out.push(`<line x1="${margin.left}" x2="${width - margin.right}" y1="${bottom}" y2="${bottom}" stroke="black"/>`);
    out.push(`<text transform="translate(${18},${(top + bottom) / 2}) rotate(-90)" text-anchor="middle">${esc(yLabel)}</text>`);
    // bars
    const groups = panel.groups;
    const gw = plotW / Math.max(groups.length, 1);
    const bw = (gw * 0.8) / series.length;
    groups.forEach((g, gi) => {
      const gx = margin.left + gi * gw + gw * 0.1;
      series.forEach((s, si) => {
        const v = g.values[s.key];
        if (v === undefined || v === null || !Number.isFinite(v)) return;
        const x = gx + si * bw;
        const h = bottom - y(v);
        const tip = `<title>${esc(`${g.label} — ${s.label}: ${fmt(v)} ${yLabel}`)}</title>`;
        out.push(
          s.hollow
            ? `<rect x="${x + 1}" y="${y(v)}" width="${Math.max(bw - 3, 1)}" height="${h}" fill="white" stroke="${s.color}" stroke-width="2">${tip}</rect>`
            : `<rect x="${x + 1}" y="${y(v)}" width="${Math.max(bw - 2, 1)}" height="${h}" fill="${s.color}">${tip}</rect>`,
        );
        if (bw >= 14)
          out.push(`<text x="${x + bw / 2}" y="${y(v) - 3}" text-anchor="middle" font-size="9">${esc(fmt(v))}</text>`);
      });
      out.push(`<text x="${gx + gw * 0.4}" y="${bottom + 18}" text-anchor="middle">${esc(g.label)}</text>`);
    });
    if (!groups.length) out.push(`<text x="${margin.left + plotW / 2}" y="${(top + bottom) / 2}" text-anchor="middle">${esc(panel.empty ?? 'no data')}</text>`);
  });
  out.push('</svg>');
  return `${out.join('\n')}\n`;
}
