"""Synthetic cities for scaling tests: random road networks with Mumford-like statistics.

Mumford (2013) generated her larger instances (Mumford2: 110 nodes, 385 links; Mumford3:
127 nodes, 425 links) from random points with short links of 2-10 minutes and random
demand. Those files are not in this project's reference data, so benchmarks build a
city of the same size here; results on it are not comparable with published figures.
"""

from __future__ import annotations

import numpy as np

from optimizer.instance import Instance, make_instance


def synthetic_city(n_nodes: int, n_links: int, seed: int = 0) -> Instance:
    """A connected planar-ish road network with integer travel times and random demand.

    Parameters
    ----------
    n_nodes : int
        Number of nodes.
    n_links : int
        Target number of undirected road links (at least ``n_nodes - 1``).
    seed : int
        Random seed.

    Returns
    -------
    Instance
        Travel times 2-10 min proportional to distance; demand 0-500 trips per ordered
        pair, decaying with distance.
    """
    rng = np.random.default_rng(seed)
    xy = rng.random((n_nodes, 2)) * np.sqrt(n_nodes)
    dist = np.linalg.norm(xy[:, None, :] - xy[None, :, :], axis=2)
    order = np.argsort(dist, axis=None, kind="stable")
    parent = list(range(n_nodes))

    def find(x: int) -> int:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    links: set[tuple[int, int]] = set()
    extra: list[tuple[int, int]] = []
    for flat in order:  # Kruskal: shortest links first, a spanning tree, then the next shortest
        i, j = divmod(int(flat), n_nodes)
        if i >= j:
            continue
        if find(i) != find(j):
            parent[find(i)] = find(j)
            links.add((i, j))
        elif len(extra) < n_links:
            extra.append((i, j))
    for link in extra:
        if len(links) >= n_links:
            break
        links.add(link)
    scale = 8.0 / max(dist[i, j] for i, j in links)
    tt = np.full((n_nodes, n_nodes), np.inf)
    np.fill_diagonal(tt, 0.0)
    for i, j in links:
        tt[i, j] = tt[j, i] = float(np.clip(np.round(2 + dist[i, j] * scale), 2, 10))
    demand = np.round(rng.random((n_nodes, n_nodes)) * 500 * np.exp(-dist / np.sqrt(n_nodes)))
    demand = np.triu(demand, 1)
    demand = demand + demand.T
    return make_instance(f"synthetic{n_nodes}", tt, demand, xy)
