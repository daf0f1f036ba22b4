"""``topis city``: generate the demo city and export it."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import click

from topis.holidays import YEARS, read_holiday_file


@click.group()
def city() -> None:
    """The demo city: a Seoul-like road graph, bus network, cameras and vehicle registry.

    \b
    Example:
        topis city export --out demo-city --seed 1 --scale 1
    """


@city.command()
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="Folder to write gtfs/, CAMERAS.csv, REGISTRY.csv, HOLIDAYS.txt and city.geojson into.")
@click.option("--seed", default=1, show_default=True, type=int, help="Seed; the same seed gives byte-identical files.")
@click.option("--scale", default=1.0, show_default=True, type=float,
              help="Size: 1 is ~40 routes and ~400 buses; 18.5 is Seoul (~7,400 buses).")
@click.option("--year", default=2026, show_default=True, type=click.IntRange(YEARS.start, YEARS.stop - 1),
              help="First year of the service calendar and holidays.")
@click.option("--holiday-overrides", "overrides_path", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Holiday file of days to add to (DATE[,NAME]) or remove from (-DATE) the Korean calendar.")
def export(out_dir: Path, seed: int, scale: float, year: int, overrides_path: Path | None) -> None:
    """Generate the city and write its GTFS feed, camera list, registry, holidays and GeoJSON.

    \b
    Example (Seoul size, ~10 s to generate):
        topis city export --out seoul-city --scale 18.5
    With a late-declared holiday (a file holding the line 2026-11-24,election):
        topis city export --out demo-city --holiday-overrides extra-holidays.csv
    """
    from tqdm import tqdm

    from topis.city import export as ex
    from topis.city.generate import generate_city

    if not 0 < scale <= 40:
        raise click.BadParameter(f"must be in (0, 40], got {scale}", param_hint="--scale")
    try:
        changes = read_holiday_file(overrides_path) if overrides_path else None
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--holiday-overrides") from None
    if out_dir.exists() and any(out_dir.iterdir()) and not (out_dir / "CAMERAS.csv").exists():
        raise click.UsageError(f"{out_dir} exists and does not look like a city export; choose an empty folder")
    out_dir.mkdir(parents=True, exist_ok=True)
    counts: dict[str, int] = {}
    with tqdm(total=6, desc="city export", unit="step", disable=not sys.stderr.isatty()) as bar:
        t0 = time.perf_counter()
        c = generate_city(seed=seed, scale=scale, year=year, holiday_changes=changes)
        gen_s = time.perf_counter() - t0
        bar.update()
        counts.update({f"gtfs/{k}": v for k, v in ex.write_gtfs(c, out_dir / "gtfs").items()})
        bar.update()
        for name, write in (("CAMERAS.csv", ex.write_cameras_csv), ("REGISTRY.csv", ex.write_registry_csv),
                            ("HOLIDAYS.txt", ex.write_holidays), ("city.geojson", ex.write_geojson)):
            counts[name] = write(c, out_dir / name)
            bar.update()
    click.echo(f"city seed={seed} scale={scale:g}: {len(c.routes)} routes, {len(c.stops)} stops, "
               f"{len(c.buses)} buses, {len(c.cameras)} cameras, {len(c.registry)} vehicles "
               f"(generated in {gen_s:.1f} s, all written in {time.perf_counter() - t0:.1f} s)")
    for name, n in counts.items():
        click.echo(f"  {out_dir / name}: {n} rows")
