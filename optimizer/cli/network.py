"""``topis plan network`` and ``topis plan evaluate``: design or evaluate transit route sets."""

from __future__ import annotations

from pathlib import Path

import click

from optimizer.evaluate import Evaluation, RouteLimits, format_routes, read_routes
from optimizer.evaluate import evaluate as evaluate_routes
from optimizer.instance import Instance, InstanceError, check_limits, load_instance

_INSTANCE_HELP = (
    "DIR/NAME of the instance: reads DIR/NAME{TravelTimes,Demand}.txt (+Coords) in Mumford's "
    "format, or DIR/NAME_{links,demand,nodes}.txt CSV edge lists."
)


def _load(instance_path: str) -> Instance:
    try:
        return load_instance(instance_path)
    except InstanceError as exc:
        raise click.BadParameter(str(exc), param_hint="--instance") from None


def _print_kpis(e: Evaluation) -> None:
    click.echo(f"ATT {e.att_min:.4f} min")
    click.echo(f"TRT {e.trt_min:.0f} min")
    click.echo(f"d0 {e.d0_pct:.2f}%  d1 {e.d1_pct:.2f}%  d2 {e.d2_pct:.2f}%  dun {e.dun_pct:.2f}%")
    if e.feasible:
        click.echo("feasible: yes")
    else:
        click.echo("feasible: NO")
        for problem in e.violations:
            click.echo(f"  - {problem}")


@click.command()
@click.option("--instance", "instance_path", required=True, help=_INSTANCE_HELP)
@click.option("--routes", "n_routes", type=int, required=True, help="Number of routes.")
@click.option("--min-nodes", type=int, required=True, help="Fewest stops per route.")
@click.option("--max-nodes", type=int, required=True, help="Most stops per route.")
@click.option("--seconds", type=click.FloatRange(min=0.1), default=60.0, show_default=True, help="Time limit.")
@click.option("--seed", type=int, default=0, show_default=True, help="Random seed.")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), required=True,
              help="Route file to write: one route per line, space-separated 1-based node ids.")
@click.option("--geojson", type=click.Path(dir_okay=False, path_type=Path), help="Also write routes as GeoJSON.")
@click.option("--csv", "csv_path", type=click.Path(dir_okay=False, path_type=Path),
              help="Also write a route,sequence,stop,headway CSV (headway left empty).")
@click.option("--iterations", type=click.IntRange(min=1), default=None,
              help="Annealing iterations; the cooling follows them, so runs are reproducible "
                   "when this limit (not --seconds) ends the search.")
@click.option("--initial", "initial_file", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Start from this route file instead of the set-covering start.")
def network(instance_path, n_routes, min_nodes, max_nodes, seconds, seed, out, geojson, csv_path,
            iterations, initial_file) -> None:
    """Design a transit route network minimising average travel time (ATT).

    Mumford (2013) rules: ATT = demand-weighted in-vehicle time + 5 min per transfer;
    every node covered, routes connected, simple paths within the node limits.
    Prints ATT, TRT, d0/d1/d2/dun and feasibility of the best set found.

    \b
    Example:
        topis plan network --instance ../shared/data/trndp/mumford_format/Mandl \\
            --routes 6 --min-nodes 2 --max-nodes 8 --seconds 60 --seed 1 --out mandl6.txt
    """
    from optimizer.design import design_network
    from optimizer.route_export import write_geojson, write_routes_csv

    inst = _load(instance_path)
    limits = RouteLimits(n_routes, min_nodes, max_nodes)
    try:
        check_limits(inst, n_routes, min_nodes, max_nodes)
        initial = read_routes(initial_file) if initial_file else None
        if geojson is not None and inst.coords is None:
            raise InstanceError(f"--geojson needs coordinates, and {instance_path} has no Coords/nodes file")
        result = design_network(inst, limits, seconds=seconds, seed=seed, max_iterations=iterations, initial=initial)
    except InstanceError as exc:
        raise click.UsageError(str(exc)) from None
    out.write_text(format_routes(result.routes))
    if geojson is not None:
        write_geojson(geojson, inst, result.routes)
    if csv_path is not None:
        write_routes_csv(csv_path, result.routes)
    click.echo(f"{inst.name}: {n_routes} routes of {min_nodes}-{max_nodes} nodes, seed {seed}, "
               f"{result.iterations} iterations in {result.elapsed_s:.1f} s -> {out}")
    _print_kpis(result.evaluation)


@click.command()
@click.option("--instance", "instance_path", required=True, help=_INSTANCE_HELP)
@click.option("--routes-file", type=click.Path(exists=True, dir_okay=False, path_type=Path), required=True,
              help="One route per line, space-separated 1-based node ids.")
@click.option("--min-nodes", type=int, default=None, help="Also check this lower node limit per route.")
@click.option("--max-nodes", type=int, default=None, help="Also check this upper node limit per route.")
@click.option("--routes", "n_routes", type=int, default=None, help="Also check the number of routes.")
def evaluate(instance_path, routes_file, min_nodes, max_nodes, n_routes) -> None:
    """Print ATT, TRT, d0/d1/d2/dun and feasibility of a route set.

    Exits with status 1 when the route set is infeasible, after listing each failed
    constraint. Node limits and route count are checked only when given.

    \b
    Example:
        topis plan evaluate --instance ../shared/data/trndp/mumford_format/Mandl \\
            --routes-file mandl6.txt --min-nodes 2 --max-nodes 8
    """
    inst = _load(instance_path)
    try:
        routes = read_routes(routes_file)
    except InstanceError as exc:
        raise click.BadParameter(str(exc), param_hint="--routes-file") from None
    limits = None
    if min_nodes is not None or max_nodes is not None or n_routes is not None:
        limits = RouteLimits(
            n_routes if n_routes is not None else len(routes),
            min_nodes if min_nodes is not None else 1,
            max_nodes if max_nodes is not None else inst.n,
        )
    result = evaluate_routes(inst, routes, limits)
    click.echo(f"{inst.name}: {len(routes)} routes from {routes_file}")
    _print_kpis(result)
    if not result.feasible:
        raise SystemExit(1)
