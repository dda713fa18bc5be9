#!/usr/bin/env python3
"""Print reference vectors for the WGS-84 / GCJ-02 / BD-09 conversions in
crates/domain/src/geo.rs, computed by independent published implementations.

The output is committed as crates/domain/tests/fixtures/geo_vectors.json and
checked by crates/domain/tests/geo_vectors.rs. Each group names the package and
the exact version that produced it, so a reader can reproduce it. The packages
are NOT dependencies of the project: install them in a scratch directory, e.g.

    python3 -m venv /tmp/geovec/venv
    /tmp/geovec/venv/bin/pip install coord-convert==0.2.1 prcoords==1.0.2 eviltransform==0.1.1
    npm install --prefix /tmp/geovec/js gcoord@1.0.7 coordtransform@2.1.2
    GEO_VECTORS_NODE_MODULES=/tmp/geovec/js/node_modules \\
        /tmp/geovec/venv/bin/python scripts/geo_vectors.py \\
        > crates/domain/tests/fixtures/geo_vectors.json

Without GEO_VECTORS_NODE_MODULES (or without node) the npm groups are left out.

Why each tolerance is what it is (all in degrees; 1e-6 deg is about 0.11 m):
- Forward WGS->GCJ and GCJ->BD are closed formulas: every package computes the
  same expression, so 1e-6 is a loose bound (observed differences are ~1e-13),
  except eviltransform, which uses 6378137 m (WGS-84) instead of Krasovsky's
  6378245 m as the ellipsoid's semi-major axis: about 1e-7 deg apart; 1e-6 holds.
- Iterative inverses: coord-convert and prcoords ("bored") apply their last
  correction, so they land within ~1e-8 of the exact inverse; gcoord returns
  the iterate whose residual is just below 1e-6, so it is up to ~1e-6 off
  (observed 5.2e-7): 1e-6 holds for all three. eviltransform's gcj2wgs_exact
  bisects to a 1e-6 residual on its own ellipsoid: 2e-6 (observed 1.0e-6).
- The one-step inverses (coordtransform's gcj02towgs84, eviltransform's
  gcj2wgs) are off by design, up to ~5 m (0.85 m on average over the box):
  1e-4 deg (about 11 m), to show agreement only in kind; the round-trip property tests check the real accuracy.
- The published one-step BD-09->GCJ-02 formula is itself off by up to 2.1e-6
  deg from the exact inverse of GCJ-02->BD-09 (this script's self-check below
  measures it); geo.rs refines it by iteration, so groups made with the
  one-step formula get 3e-6 and the iterative prcoords groups keep 1e-6.
"""

import importlib.metadata
import json
import os
import subprocess
import sys
import warnings

# WGS-84 positions (lng, lat) chosen to spread over the China box: the cities
# the brief names plus the corners of the country and the transform's own
# centre (105E, 35N), where sqrt(|lng - 105|) has its kink.
CHINA_POINTS = [
    ("Kunming, Dianchi Lake north shore", 102.7123, 25.0406),
    ("Kunming, Changshui airport", 102.9292, 25.1019),
    ("Beijing, Tiananmen", 116.3975, 39.9087),
    ("Beijing, Capital airport", 116.5871, 40.0799),
    ("Beijing, coordtransform's example", 116.404, 39.915),
    ("Shanghai, People's Square", 121.4737, 31.2304),
    ("Shanghai, Pudong airport", 121.8083, 31.1443),
    ("Urumqi", 87.6168, 43.8256),
    ("Harbin", 126.5350, 45.8038),
    ("Sanya", 109.5119, 18.2528),
    ("Lhasa", 91.1172, 29.6469),
    ("Kashgar", 75.9897, 39.4704),
    ("Mohe", 122.5386, 52.9723),
    ("Guangzhou", 113.2644, 23.1291),
    ("Chengdu", 104.0665, 30.5723),
    ("transform centre 105E 35N", 105.0, 35.0),
    ("gcoord's test point", 123.0, 45.0),
]

# Outside the China box (72.004-137.8347 E, 0.8293-55.8271 N): WGS <-> GCJ is
# the identity there. Seoul is inside the box although not in China: the
# published algorithm shifts it all the same, and so do we.
OUTSIDE_POINTS = [
    ("Tokyo", 139.6917, 35.6895),
    ("London", -0.1276, 51.5072),
    ("Sydney", 151.2093, -33.8688),
    ("New York", -74.0060, 40.7128),
]
SEOUL = ("Seoul (inside the box, not China)", 126.9780, 37.5665)


def version(dist):
    return importlib.metadata.version(dist)


def group(source, function, frm, to, tol, note, points, fn):
    vectors = []
    for name, lng, lat in points:
        out = fn(lng, lat)
        vectors.append({"name": name, "input": [lng, lat], "expected": [out[0], out[1]]})
    return {
        "source": source,
        "function": function,
        "from": frm,
        "to": to,
        "tolerance_deg": tol,
        "note": note,
        "vectors": vectors,
    }


def python_groups():
    groups = []

    # coord-convert (PyPI): lng-first API.
    from coord_convert import transform as cc

    src = "coord-convert %s (PyPI)" % version("coord-convert")
    groups += [
        group(src, "transform.wgs2gcj", "wgs84", "gcj02", 1e-6, "closed formula",
              CHINA_POINTS + [SEOUL], cc.wgs2gcj),
        group(src, "transform.wgs2gcj", "wgs84", "gcj02", 1e-12,
              "outside the China box: identity", OUTSIDE_POINTS, cc.wgs2gcj),
        group(src, "transform.gcj2wgs", "gcj02", "wgs84", 1e-6,
              "iterative inverse, stops at 1e-6 deg", CHINA_POINTS, cc.gcj2wgs),
        group(src, "transform.gcj2bd", "gcj02", "bd09", 1e-6, "closed formula",
              CHINA_POINTS, cc.gcj2bd),
        group(src, "transform.bd2gcj", "bd09", "gcj02", 3e-6,
              "published one-step inverse, itself up to 2.1e-6 deg off the exact inverse",
              CHINA_POINTS, cc.bd2gcj),
        group(src, "transform.wgs2bd", "wgs84", "bd09", 1e-6, "closed formula",
              CHINA_POINTS, cc.wgs2bd),
        group(src, "transform.wgs2bd", "wgs84", "bd09", 1e-6,
              "outside the China box: no GCJ shift, BD-09 offset still applied",
              OUTSIDE_POINTS, cc.wgs2bd),
    ]

    # prcoords (PyPI): lat-first Coords(lat, lon) API; the *_bored functions are
    # its iterative inverses.
    import prcoords as prc

    src = "prcoords %s (PyPI)" % version("prcoords")

    def lat_first(f):
        def g(lng, lat):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # it warns on non-Chinese input
                r = f(prc.Coords(lat, lng))
            return (r.lon, r.lat)
        return g

    groups += [
        group(src, "wgs_gcj", "wgs84", "gcj02", 1e-6, "closed formula",
              CHINA_POINTS, lat_first(prc.wgs_gcj)),
        group(src, "wgs_gcj", "wgs84", "gcj02", 1e-12, "outside the China box: identity",
              OUTSIDE_POINTS, lat_first(prc.wgs_gcj)),
        group(src, "gcj_wgs_bored", "gcj02", "wgs84", 1e-6,
              "iterative inverse (fixed point, at most 10 steps)",
              CHINA_POINTS, lat_first(prc.gcj_wgs_bored)),
        group(src, "gcj_bd", "gcj02", "bd09", 1e-6, "closed formula",
              CHINA_POINTS, lat_first(prc.gcj_bd)),
        group(src, "bd_gcj_bored", "bd09", "gcj02", 1e-6,
              "iterative inverse of gcj_bd", CHINA_POINTS, lat_first(prc.bd_gcj_bored)),
        group(src, "wgs_bd", "wgs84", "bd09", 1e-6, "closed formula",
              CHINA_POINTS, lat_first(prc.wgs_bd)),
        group(src, "bd_wgs_bored", "bd09", "wgs84", 1e-6,
              "iterative inverse of wgs_bd", CHINA_POINTS, lat_first(prc.bd_wgs_bored)),
    ]

    # eviltransform (PyPI, port of googollee/eviltransform): lat-first tuples.
    import eviltransform as ev

    src = "eviltransform %s (PyPI)" % version("eviltransform")

    def ev_lat_first(f):
        def g(lng, lat):
            la, ln = f(lat, lng)
            return (ln, la)
        return g

    groups += [
        group(src, "wgs2gcj", "wgs84", "gcj02", 1e-6,
              "uses a = 6378137 m instead of Krasovsky's 6378245 m: ~1e-7 deg apart",
              CHINA_POINTS, ev_lat_first(ev.wgs2gcj)),
        group(src, "wgs2gcj", "wgs84", "gcj02", 1e-12, "outside the China box: identity",
              OUTSIDE_POINTS, ev_lat_first(ev.wgs2gcj)),
        group(src, "gcj2wgs_exact", "gcj02", "wgs84", 2e-6,
              "bisection inverse, stops when the residual is below 1e-6 deg",
              CHINA_POINTS, ev_lat_first(ev.gcj2wgs_exact)),
        group(src, "gcj2wgs", "gcj02", "wgs84", 1e-4,
              "one-step inverse, metres off by design", CHINA_POINTS, ev_lat_first(ev.gcj2wgs)),
        group(src, "gcj2bd", "gcj02", "bd09", 1e-6, "closed formula",
              CHINA_POINTS, ev_lat_first(ev.gcj2bd)),
    ]
    return groups


NODE_SCRIPT = r"""
const gcoord = require('gcoord');
const ct = require('coordtransform');
const input = JSON.parse(require('fs').readFileSync(0, 'utf8'));
const out = {
  versions: {
    gcoord: require('gcoord/package.json').version,
    coordtransform: require('coordtransform/package.json').version,
  },
  results: {},
};
const C = gcoord;
const fns = {
  'gcoord.WGS84>GCJ02': p => C.transform(p, C.WGS84, C.GCJ02),
  'gcoord.GCJ02>WGS84': p => C.transform(p, C.GCJ02, C.WGS84),
  'gcoord.GCJ02>BD09': p => C.transform(p, C.GCJ02, C.BD09),
  'gcoord.BD09>GCJ02': p => C.transform(p, C.BD09, C.GCJ02),
  'gcoord.WGS84>BD09': p => C.transform(p, C.WGS84, C.BD09),
  'gcoord.BD09>WGS84': p => C.transform(p, C.BD09, C.WGS84),
  'coordtransform.wgs84togcj02': p => ct.wgs84togcj02(p[0], p[1]),
  'coordtransform.gcj02towgs84': p => ct.gcj02towgs84(p[0], p[1]),
  'coordtransform.gcj02tobd09': p => ct.gcj02tobd09(p[0], p[1]),
  'coordtransform.bd09togcj02': p => ct.bd09togcj02(p[0], p[1]),
};
for (const [name, f] of Object.entries(fns)) {
  out.results[name] = input.map(p => f([p[0], p[1]]));
}
process.stdout.write(JSON.stringify(out));
"""


def node_groups():
    modules = os.environ.get("GEO_VECTORS_NODE_MODULES")
    if not modules:
        print("GEO_VECTORS_NODE_MODULES not set: npm groups left out", file=sys.stderr)
        return []
    points = CHINA_POINTS + OUTSIDE_POINTS
    proc = subprocess.run(
        ["node", "-e", NODE_SCRIPT],
        input=json.dumps([[lng, lat] for _, lng, lat in points]),
        capture_output=True, text=True, check=True,
        env=dict(os.environ, NODE_PATH=modules),
    )
    data = json.loads(proc.stdout)
    results = data["results"]

    def sub(key, frm, to, tol, note, which):
        # which: "china", "outside" or "all"
        idx = {
            "china": range(len(CHINA_POINTS)),
            "outside": range(len(CHINA_POINTS), len(points)),
        }[which]
        pkg = key.split(".")[0]
        return {
            "source": "%s %s (npm)" % (pkg, data["versions"][pkg]),
            "function": key,
            "from": frm,
            "to": to,
            "tolerance_deg": tol,
            "note": note,
            "vectors": [
                {"name": points[i][0], "input": [points[i][1], points[i][2]],
                 "expected": results[key][i]}
                for i in idx
            ],
        }

    return [
        sub("gcoord.WGS84>GCJ02", "wgs84", "gcj02", 1e-6, "closed formula", "china"),
        sub("gcoord.WGS84>GCJ02", "wgs84", "gcj02", 1e-12, "outside the China box: identity",
            "outside"),
        sub("gcoord.GCJ02>WGS84", "gcj02", "wgs84", 1e-6,
            "iterative inverse, stops at 1e-6 deg", "china"),
        sub("gcoord.GCJ02>WGS84", "gcj02", "wgs84", 1e-12, "outside the China box: identity",
            "outside"),
        sub("gcoord.GCJ02>BD09", "gcj02", "bd09", 1e-6, "closed formula", "china"),
        sub("gcoord.GCJ02>BD09", "gcj02", "bd09", 1e-6,
            "BD-09 offset applied outside China too", "outside"),
        sub("gcoord.BD09>GCJ02", "bd09", "gcj02", 3e-6,
            "published one-step inverse, itself up to 2.1e-6 deg off the exact inverse",
            "china"),
        sub("gcoord.WGS84>BD09", "wgs84", "bd09", 1e-6, "closed formula", "china"),
        sub("gcoord.WGS84>BD09", "wgs84", "bd09", 1e-6,
            "outside the China box: no GCJ shift, BD-09 offset still applied", "outside"),
        sub("gcoord.BD09>WGS84", "bd09", "wgs84", 3e-6,
            "one-step BD->GCJ then iterative GCJ->WGS", "china"),
        sub("coordtransform.wgs84togcj02", "wgs84", "gcj02", 1e-6, "closed formula", "china"),
        sub("coordtransform.gcj02towgs84", "gcj02", "wgs84", 1e-4,
            "one-step inverse, metres off by design", "china"),
        sub("coordtransform.gcj02tobd09", "gcj02", "bd09", 1e-6, "closed formula", "china"),
        sub("coordtransform.bd09togcj02", "bd09", "gcj02", 3e-6,
            "published one-step inverse, itself up to 2.1e-6 deg off the exact inverse",
            "china"),
    ]


def one_step_bd_error():
    """Largest distance, in degrees, between a GCJ point and the published
    one-step BD->GCJ of its BD image, over a grid of the China box: the reason
    geo.rs iterates that inverse too."""
    from coord_convert import transform as cc

    worst = 0.0
    for i in range(200):
        for j in range(200):
            lng = 72.004 + (137.8347 - 72.004) * i / 199
            lat = 0.8293 + (55.8271 - 0.8293) * j / 199
            b = cc.gcj2bd(lng, lat)
            g = cc.bd2gcj(*b)
            worst = max(worst, abs(g[0] - lng), abs(g[1] - lat))
    return worst


def main():
    groups = python_groups() + node_groups()
    doc = {
        "generated_by": "scripts/geo_vectors.py",
        "python": sys.version.split()[0],
        "one_step_bd09_to_gcj02_max_error_deg": one_step_bd_error(),
        "groups": groups,
    }
    json.dump(doc, sys.stdout, indent=1)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
