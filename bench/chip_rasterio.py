# The rasterio side of bench/chip.bench.ts: the same chips as dagrun's `chip` step, cut the way a
# rasterio user would, from the same COGs and points, with the same output compression, on `jobs`
# threads of one process (rasterio releases the GIL inside GDAL, as dagrun's worker threads share one
# process). Per chip: a boundless window read for each 10 m band → float32 reflectance clamped to
# [0, 1]; the 20 m bands by `reproject` with cubic resampling and source nodata; SCL by nearest;
# a tiled 256 px float32 GeoTIFF (pixel-interleaved, predictor 3) and a uint8 SCL GeoTIFF
# (predictor 2) with band descriptions; GeoJSON footprint and JSON sidecar; a 2–98 % stretched
# JPEG quicklook (quality 85) from the water pixels.
#
# Usage: python3 chip_rasterio.py cut TASKS.json OUT_DIR JOBS COMPRESSION
#   prints one JSON line: chips, cpu_s, peak_rss_mb (whole process, getrusage RUSAGE_SELF).
# TASKS.json is what the bench gives both sides: {"tasks": [ChipTask...], "params": ChipParams}.
#        python3 chip_rasterio.py compare TASKS.json DAGRUN_OUT RASTERIO_OUT
#   prints how far dagrun's chips are from these (max |difference| per band group, SCL pixels differing).
import json
import math
import os
import resource
import sys
import warnings
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import rasterio
from rasterio.enums import Resampling
from rasterio.errors import NotGeoreferencedWarning
from rasterio.transform import Affine
from rasterio.warp import reproject, transform as transform_points
from rasterio.windows import Window

SCL_WATER = 6


def reflectance(dn, asset):
    """DN → float32 reflectance clamped to [0, 1]; nodata DN (and NaN from the warper) → 0."""
    out = dn.astype(np.float64) * asset["scale"] + asset["offset"]
    invalid = np.isnan(out)
    if asset.get("nodata") is not None:
        invalid |= dn == asset["nodata"]
    out = np.clip(out, 0, 1)
    out[invalid] = 0
    return out.astype(np.float32)


def quantile_of_valid(values, q, mask):
    chosen = values[(values > 0) & mask] if mask is not None else values[values > 0]
    if chosen.size == 0:
        return 0.0
    return float(np.quantile(chosen, q, method="nearest"))


def quicklook(rgb, scl, path):
    red, green, blue = rgb
    water = (scl == SCL_WATER) & (red > 0) & (green > 0) & (blue > 0)
    mask = water if water.sum() >= round(red.size * 0.05) else None
    out = np.zeros((3,) + red.shape, np.uint8)
    for channel, band in enumerate(rgb):
        lo, hi = quantile_of_valid(band, 0.02, mask), quantile_of_valid(band, 0.98, mask)
        if hi - lo < 0.05:
            middle = (lo + hi) / 2
            lo = max(0.0, middle - 0.025)
            hi = lo + 0.05
        scaled = np.clip(np.round((band - lo) / (hi - lo) * 255), 0, 255)
        scaled[band == 0] = 0
        out[channel] = scaled.astype(np.uint8)
    with rasterio.open(path, "w", driver="JPEG", width=red.shape[1], height=red.shape[0], count=3, dtype="uint8", QUALITY=85) as dst:
        dst.write(out)


def creation_options(compression, predictor):
    options = {"tiled": True, "blockxsize": 256, "blockysize": 256, "interleave": "pixel", "predictor": predictor}
    if compression == "zstd":
        options.update(compress="zstd", zstd_level=9)
    else:
        options.update(compress="deflate", zlevel=6)
    return options


def cut(task, datasets, out_dir, compression):
    size, resolution = task["size"], task["resolution"]
    b02 = datasets["B02"]
    crs = b02.crs
    xs, ys = transform_points("EPSG:4326", crs, [task["lon"]], [task["lat"]])
    col = math.floor((xs[0] - b02.transform.c) / resolution) - size // 2
    row = math.floor((b02.transform.f - ys[0]) / resolution) - size // 2
    origin_x = b02.transform.c + col * resolution
    origin_y = b02.transform.f - row * resolution
    dst_transform = Affine(resolution, 0, origin_x, 0, -resolution, origin_y)

    bands = []
    for band in task["bands"]:
        src, asset = datasets[band], task["assets"][band]
        if abs(src.res[0] - resolution) < 1e-9:
            c = round((origin_x - src.transform.c) / resolution)
            r = round((src.transform.f - origin_y) / resolution)
            inside = c >= 0 and r >= 0 and c + size <= src.width and r + size <= src.height
            dn = src.read(1, window=Window(c, r, size, size), boundless=not inside, fill_value=0)
            bands.append(reflectance(dn, asset))
        else:
            dn = np.full((size, size), np.nan, np.float32)
            reproject(rasterio.band(src, 1), dn, src_nodata=asset.get("nodata"), dst_transform=dst_transform, dst_crs=crs, dst_nodata=np.nan, resampling=Resampling.cubic)
            bands.append(reflectance(dn, asset))
    scl = np.zeros((size, size), np.uint8)
    reproject(rasterio.band(datasets["SCL"], 1), scl, src_nodata=0, dst_transform=dst_transform, dst_crs=crs, dst_nodata=0, resampling=Resampling.nearest)

    stem = os.path.join(out_dir, f"{task['index']:05d}")  # the bench compares by task index
    profile = {"driver": "GTiff", "width": size, "height": size, "crs": crs, "transform": dst_transform, "nodata": 0}
    with rasterio.open(f"{stem}.tif", "w", count=len(bands), dtype="float32", **profile, **creation_options(compression, 3)) as dst:
        dst.write(np.stack(bands))
        for i, name in enumerate(task["bands"]):
            dst.set_band_description(i + 1, name)
    with rasterio.open(f"{stem}_scl.tif", "w", count=1, dtype="uint8", **profile, **creation_options(compression, 2)) as dst:
        dst.write(scl, 1)
        dst.set_band_description(1, "SCL")

    extent = size * resolution
    corner_x = [origin_x, origin_x, origin_x + extent, origin_x + extent]
    corner_y = [origin_y, origin_y - extent, origin_y - extent, origin_y]
    lons, lats = transform_points(crs, "EPSG:4326", corner_x, corner_y)
    ring = [[round(x, 9), round(y, 9)] for x, y in zip(lons, lats)]
    ring.append(ring[0])
    properties = {"mmsi": task["mmsi"], "lat": task["lat"], "lon": task["lon"], "transform": list(dst_transform)[:6], "bands": task["bands"], "width": size, "height": size, "dtype": "float32", "nodata": 0}
    with open(f"{stem}.geojson", "w") as f:
        f.write(json.dumps({"type": "Feature", "geometry": {"type": "Polygon", "coordinates": [ring]}, "properties": properties}, indent=2) + "\n")
    with open(f"{stem}.json", "w") as f:
        f.write(json.dumps(properties, indent=2) + "\n")
    rgb = [bands[task["bands"].index(name)] for name in ("B04", "B03", "B02")]
    quicklook(rgb, scl, f"{stem}_quicklook.jpg")


def worker(tasks, out_dir, compression):
    with rasterio.Env():
        datasets = {band: rasterio.open(asset["href"]) for band, asset in tasks[0]["assets"].items()} if tasks else {}
        try:
            for task in tasks:
                cut(task, datasets, out_dir, compression)
        finally:
            for dataset in datasets.values():
                dataset.close()
    return len(tasks)


def load_tasks(path):
    """The bench's ChipTask list with what `cut` needs from the params: bands, size, resolution."""
    with open(path) as f:
        spec = json.load(f)
    params = spec["params"]
    bands = ["B02", "B03", "B04", "B08"] + (["B11", "B12"] if params["include_swir"] else [])
    return [dict(task, index=index, bands=bands, size=params["size_px"], resolution=params["resolution_m"]) for index, task in enumerate(spec["tasks"])]


def compare(tasks, dagrun_out, rasterio_out):
    with open(os.path.join(dagrun_out, "paths.json")) as f:
        paths = json.load(f)
    worst = {"max_abs_diff_10m": 0.0, "max_abs_diff_20m": 0.0, "scl_pixels_differing": 0, "chips_compared": 0, "grids_differing": 0}
    for task, path in zip(tasks, paths):
        if path is None:
            continue
        ours = os.path.join(dagrun_out, path)
        theirs = f"{os.path.join(rasterio_out, format(task['index'], '05d'))}.tif"
        with rasterio.open(ours) as a, rasterio.open(theirs) as b:
            if a.transform != b.transform:
                worst["grids_differing"] += 1
                continue
            difference = np.abs(a.read().astype(np.float64) - b.read().astype(np.float64))
            worst["max_abs_diff_10m"] = max(worst["max_abs_diff_10m"], float(difference[:4].max()))
            if difference.shape[0] > 4:
                worst["max_abs_diff_20m"] = max(worst["max_abs_diff_20m"], float(difference[4:].max()))
        with rasterio.open(ours.replace(".tif", "_scl.tif")) as a, rasterio.open(theirs.replace(".tif", "_scl.tif")) as b:
            worst["scl_pixels_differing"] += int((a.read() != b.read()).sum())
        worst["chips_compared"] += 1
    print(json.dumps(worst))


def main():
    warnings.filterwarnings("ignore", category=NotGeoreferencedWarning)  # the quicklook JPEG has no georeferencing
    if sys.argv[1] == "compare":
        compare(load_tasks(sys.argv[2]), sys.argv[3], sys.argv[4])
        return
    tasks_path, out_dir, jobs, compression = sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[5]
    tasks = load_tasks(tasks_path)
    os.makedirs(out_dir, exist_ok=True)
    # contiguous slices, as dagrun's partitionTasks does
    count = max(1, min(jobs, len(tasks)))
    parts = [tasks[(k * len(tasks)) // count : ((k + 1) * len(tasks)) // count] for k in range(count)]
    with ThreadPoolExecutor(max_workers=count) as pool:
        done = sum(pool.map(lambda part: worker(part, out_dir, compression), parts))
    usage = resource.getrusage(resource.RUSAGE_SELF)
    print(json.dumps({"chips": done, "cpu_s": round(usage.ru_utime + usage.ru_stime, 3), "peak_rss_mb": round(usage.ru_maxrss / 1024, 1)}))


if __name__ == "__main__":
    main()
