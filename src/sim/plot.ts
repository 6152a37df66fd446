/**
 * SVG plots: a Vega-Lite spec compiled to Vega and rendered headless by Vega's SVG renderer
 * (`View` with renderer 'none', then `toSVG()`). Data are inline; nothing is fetched.
 */
import { compile, type TopLevelSpec } from 'vega-lite';
import { parse, View } from 'vega';

export type { TopLevelSpec } from 'vega-lite';

export interface PlotSpec {
  /** File name inside the output directory, e.g. "e1_efficiency.svg". */
  file: string;
  title: string;
  spec: TopLevelSpec;
}

const CONFIG = {
  font: 'sans-serif',
  axis: { labelFontSize: 11, titleFontSize: 12 },
  legend: { labelFontSize: 11, titleFontSize: 12, labelLimit: 260 },
  header: { labelFontSize: 11, labelLimit: 320 },
  title: { fontSize: 14 },
};

export async function renderSvg(spec: TopLevelSpec): Promise<string> {
  const vg = compile({ ...spec, config: { ...CONFIG, ...(spec.config ?? {}) } } as TopLevelSpec).spec;
  const view = new View(parse(vg), { renderer: 'none' });
  try {
    const svg = await view.toSVG();
    return svg.endsWith('\n') ? svg : svg + '\n';
  } finally {
    view.finalize();
  }
}
