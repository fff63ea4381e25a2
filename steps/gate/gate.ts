// Gate one chip: read its centre window from the chip GeoTIFF (and the SCL GeoTIFF when there is one),
// compute the fractions and decide. Files are found below the chips directory the step receives.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { fromFile } from 'geotiff';
// For its side effect: geotiff.js then inflates deflate tiles with node:zlib instead of pako (~4× faster here).
import '../../lib/geo/cog-reader.js';
import { centerWindow, classifySpectral, gateDecision, sclFractions, waterFraction, type GateThresholds, type Window } from './fractions.js';

export interface GateParams extends GateThresholds {
  centerWindowPx: number;
  sclCloudClasses: readonly number[];
  sclLandClasses: readonly number[];
  ndwiWaterThresh: number;
}

export interface ChipRecord {
  chip_id: string;
  path: string | null;
  scl_path?: string | null;
  bands: string | null;
  status?: string | null;
  reason?: string | null;
}

export interface GateRow {
  chip_id: string;
  qa_cloud_frac: number | null;
  qa_water_frac: number | null;
  qa_land_frac: number | null;
  /** 'scl' (the scene's classification), 'spectral' (stand-in from the bands), or null (not measured). */
  qa_source: string | null;
  decision: 'accept' | 'reject';
  reason: string;
}


/**
 * The file a chips-table path names, below `chipsDir`. Table paths are relative to the output root
 * (e.g. `chips/2026-05-25/train/…`) while the step sees the chips directory itself, wherever the
 * engine put it, so drop leading components until the rest exists below `chipsDir`.
 */
export function locateChipFile(chipsDir: string, path: string): string | null {
  const parts = path.split('/').filter((p) => p !== '' && p !== '.');
  if (parts.includes('..')) return null;
  for (let skip = 0; skip < parts.length; skip++) {
    const candidate = join(chipsDir, ...parts.slice(skip));
    if (existsSync(candidate)) return candidate;
  }
  return null;
}

type Raster = { width: number; height: number; bands: ArrayLike<number>[] };

/** Only the centre window's pixels, read from the GeoTIFF's tiles. */
async function readCentre(file: string, size: number): Promise<{ raster: Raster; window: Window }> {
  const tiff = await fromFile(file);
  try {
    const image = await tiff.getImage();
    const window = centerWindow(image.getWidth(), image.getHeight(), size);
    const rasters = (await image.readRasters({ window: [window.x0, window.y0, window.x0 + window.width, window.y0 + window.height] })) as unknown as ArrayLike<number>[];
    return { raster: { width: window.width, height: window.height, bands: Array.from({ length: image.getSamplesPerPixel() }, (_, i) => rasters[i]) }, window };
  } finally {
    await tiff.close();
  }
}

/** Gate one chip row; a chip the chip step failed, or whose file cannot be read, is rejected with the reason. */
export async function gateChip(chip: ChipRecord, chipsDir: string, params: GateParams): Promise<GateRow> {
  const reject = (reason: string): GateRow => ({ chip_id: chip.chip_id, qa_cloud_frac: null, qa_water_frac: null, qa_land_frac: null, qa_source: null, decision: 'reject', reason });
  if (chip.status && chip.status !== 'ok') return reject(`chip ${chip.status}: ${chip.reason ?? 'no reason given'}`);
  if (!chip.path) return reject('chip has no file');
  const bandNames = (chip.bands ?? '').split(',').map((b) => b.trim());
  const index = (band: string) => bandNames.indexOf(band);
  if (['B02', 'B03', 'B04', 'B08'].some((b) => index(b) < 0)) return reject(`chip bands ${chip.bands ?? 'none'} lack one of B02 B03 B04 B08`);
  const file = locateChipFile(chipsDir, chip.path);
  if (!file) return reject(`chip file ${chip.path} not found in the chips directory`);
  let image: Raster;
  try {
    image = (await readCentre(file, params.centerWindowPx)).raster;
  } catch (error) {
    return reject(`chip file ${chip.path} unreadable: ${(error as Error).message}`);
  }
  const whole: Window = { x0: 0, y0: 0, width: image.width, height: image.height };
  const [blue, green, red, nir] = ['B02', 'B03', 'B04', 'B08'].map((b) => image.bands[index(b)]);
  const water = waterFraction(green, nir, image.width, whole, params.ndwiWaterThresh);

  let classes: ArrayLike<number> | null = null;
  let source = 'scl';
  const sclFile = chip.scl_path ? locateChipFile(chipsDir, chip.scl_path) : null;
  if (sclFile) {
    try {
      const scl = (await readCentre(sclFile, params.centerWindowPx)).raster;
      if (scl.width === image.width && scl.height === image.height) classes = scl.bands[0];
    } catch {
      classes = null;
    }
  }
  if (!classes) {
    // No readable SCL: classify the chip's own bands (see classifySpectral).
    classes = classifySpectral({ blue, green, red, nir }, image.width * image.height);
    source = 'spectral';
  }
  const fractions = sclFractions(classes, image.width, whole, params.sclCloudClasses, params.sclLandClasses);
  const verdict = gateDecision({ cloud: fractions.cloud, land: fractions.land, water: water.water }, params);
  const value = (x: number) => (Number.isNaN(x) ? null : x);
  return {
    chip_id: chip.chip_id,
    qa_cloud_frac: value(fractions.cloud),
    qa_water_frac: value(water.water),
    qa_land_frac: value(fractions.land),
    qa_source: source,
    ...verdict,
  };
}
