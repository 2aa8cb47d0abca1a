"""The renderer of the built-in benchmark: procedural 3-D rooms, ray-cast in numpy, with the
ground truth of all five tasks of the data contract derived from one scene geometry
(``SyntheticSceneDataset`` in ``synthetic_scenes.py`` serves them as a dataset).

* **Scene.** A room seen by a pinhole camera (random height, pitch, yaw, roll, field of view):
  a floor plane, a back wall and sometimes a side wall (classes ``floor``, ``wall``), plus 2–6
  (``num_objects``) objects standing on the floor, each of one of ``num_object_classes``
  shape classes — ``sphere``, ``cuboid``, ``cylinder``, ``pyramid`` (then ``cone``,
  ``ellipsoid``) — with random size, position and yaw. Objects do not intersect and stay
  inside the room (objects that find no free place are dropped).
* **Rendering.** One ray per pixel, vectorised over all pixels in numpy; every solid is an
  intersection of half-spaces and at most one quadric (sphere/ellipsoid, infinite cylinder,
  cone), intersected analytically; a z-buffer keeps the nearest hit and gives per pixel the
  depth, surface normal, class and object id.
* **Image.** Lambertian shading of the per-pixel albedo with a random directional light
  (+ ambient, tinted) and hard cast shadows of the objects, gamma, Gaussian sensor noise, uint8.
  Every class has a characteristic hue (jittered per instance, so hues of neighbouring classes
  overlap) and texture (sphere: bands, cuboid: 3-D checker, cylinder: vertical stripes, pyramid:
  speckle, cone: spiral, ellipsoid: dots); floors are tiled, walls plain or striped. So the image
  carries the geometry (shading ~ normals, shadows, perspective texture ~ depth) and the class,
  but neither colour nor shape alone decides the segmentation.
* **Targets** (see the data contract): ``segment_semantic`` — class per pixel (0 floor, 1 wall,
  2.. objects; 255 where a ray hits nothing, which the camera limits make rare);
  ``depth_zbuffer`` — z-depth in metres (0 = missing); ``normal`` — unit normals in the camera
  frame, x right, y up, z towards the camera (floors point up, the back wall towards the
  viewer; every normal faces its viewing ray); ``edge_texture`` — occlusion edges (surface id
  changes) and crease edges (normals turn by > 20°, full strength at 50°), two pixels wide
  with a faint 3x3 halo, in [0, 1] (Taskonomy's ``edge_texture`` are image-space Canny edges;
  ours are the geometric edges a model must infer from the image); ``keypoints2d`` — Gaussian blobs
  (sigma 1.5 px at 64 px, scaled with the image) at the visible projected corners and apexes of
  polyhedra, the silhouette ends of cylinder/cone rims and the centres of spheres/ellipsoids.
"""
from __future__ import annotations

import colorsys
import math

import numpy as np

from .transforms_common import IGNORE_INDEX

__all__ = ['BACKGROUND_CLASSES', 'OBJECT_CLASSES', 'sample_scene', 'render_scene']

BACKGROUND_CLASSES = ('floor', 'wall')
OBJECT_CLASSES = ('sphere', 'cuboid', 'cylinder', 'pyramid', 'cone', 'ellipsoid')
# characteristic hue per object class (HSV hue in [0, 1)); instances jitter it (sigma 0.05)
_CLASS_HUE = {'sphere': 0.0, 'cuboid': 0.62, 'cylinder': 0.33, 'pyramid': 0.12, 'cone': 0.80,
              'ellipsoid': 0.50}
_FLOOR, _BACK_WALL, _SIDE_WALL = 0, 1, 2  # surface ids of the room; objects are 3, 4, ...
_NUM_ROOM_SURFACES = 3
_COS20, _COS50 = math.cos(math.radians(20)), math.cos(math.radians(50))


def _dot3(a: np.ndarray, v: np.ndarray) -> np.ndarray:
    """(P, 3) . (3,) without BLAS (whose threads crawl on a busy machine)."""
    return a[:, 0] * v[0] + a[:, 1] * v[1] + a[:, 2] * v[2]


def _hsv_linear(h: float, s: float, v: float) -> np.ndarray:
    """HSV (display values) -> linear RGB albedo."""
    return np.asarray(colorsys.hsv_to_rgb(h % 1.0, s, v)) ** 2.2


def _hash_noise(ix, iy, iz) -> np.ndarray:
    """Deterministic value noise in [0, 1) per integer 3-D cell."""
    x = np.sin(ix * 12.9898 + iy * 78.233 + iz * 37.719) * 43758.5453
    return x - np.floor(x)


class _Solid:
    """A convex object standing on the floor: half-spaces ``n.p <= d`` and at most one quadric,
    in a local frame (origin on the floor under the object, y up) rotated by ``yaw``."""

    def __init__(self, kind: str, class_index: int, cx: float, cz: float, yaw: float,
                 dims: dict, colour: np.ndarray, contrast: float, period: float, count: int):
        self.kind, self.class_index = kind, class_index
        self.cx, self.cz, self.yaw = cx, cz, yaw
        self.cos, self.sin = math.cos(yaw), math.sin(yaw)
        self.dims, self.colour = dims, colour
        self.contrast, self.period, self.count = contrast, period, count
        planes, self.quadric = [], None
        if kind in ('sphere', 'ellipsoid'):
            ax, ay, az = (dims['r'],) * 3 if kind == 'sphere' else (dims['ax'], dims['ay'],
                                                                    dims['az'])
            self.quadric = ('ellipsoid', ax, ay, az)
            height, radius = 2 * ay, max(ax, ay, az)
            self.footprint = max(ax, az)
        elif kind == 'cuboid':
            a, c, height = dims['a'], dims['c'], dims['h']
            planes = [(1, 0, 0, a), (-1, 0, 0, a), (0, 0, 1, c), (0, 0, -1, c), (0, 1, 0, height)]
            self.footprint = math.hypot(a, c)
        elif kind == 'pyramid':
            a, height = dims['a'], dims['h']
            planes = [(height, a, 0, a * height), (-height, a, 0, a * height),
                      (0, a, height, a * height), (0, a, -height, a * height)]
            self.footprint = a * math.sqrt(2)
        elif kind in ('cylinder', 'cone'):
            r, height = dims['r'], dims['h']
            planes = [(0, 1, 0, height)]
            self.quadric = (kind, r, height)
            self.footprint = r
        else:
            raise ValueError(kind)
        if kind not in ('sphere', 'ellipsoid'):
            radius = math.hypot(self.footprint, height / 2)
        planes.append((0, -1, 0, 0))  # y >= 0 (the floor)
        p = np.asarray(planes, dtype=np.float64)
        p /= np.linalg.norm(p[:, :3], axis=1, keepdims=True)
        self.planes, self.height = p, height
        self.bound_centre = np.array([cx, height / 2, cz])
        self.bound_radius = radius * 1.001

    # --- frames
    def to_local(self, x, y, z, point: bool = True):
        if point:
            x, z = x - self.cx, z - self.cz
        return self.cos * x - self.sin * z, y, self.sin * x + self.cos * z

    def to_world(self, x, y, z, point: bool = True):
        wx, wz = self.cos * x + self.sin * z, -self.sin * x + self.cos * z
        if point:
            wx, wz = wx + self.cx, wz + self.cz
        return wx, y, wz

    # --- ray casting
    def screen_rect(self, eye, axes, focal, H, W):
        """Pixel rows/cols (slices) that can see the object: projection of the cube around its
        bounding sphere; ``None`` if it is outside the image (or reaches behind the camera,
        then the whole image)."""
        r = self.bound_radius
        rel = self.bound_centre - eye
        xc, yc, zc = (float(rel @ a) for a in axes)
        if zc - r <= 0.05:
            return (slice(0, H), slice(0, W)) if zc + r > 0 else None
        corners = np.array([[xc + sx * r, yc + sy * r, zc + sz * r] for sx in (-1, 1)
                            for sy in (-1, 1) for sz in (-1, 1)])
        u = focal * corners[:, 0] / corners[:, 2] + W / 2
        v = -focal * corners[:, 1] / corners[:, 2] + H / 2
        j0, j1 = max(int(math.floor(u.min())), 0), min(int(math.ceil(u.max())) + 1, W)
        i0, i1 = max(int(math.floor(v.min())), 0), min(int(math.ceil(v.max())) + 1, H)
        if j0 >= j1 or i0 >= i1:
            return None
        return slice(i0, i1), slice(j0, j1)

    def cull(self, o, d) -> np.ndarray:
        """Rays (world; components broadcast) that may hit the bounding sphere."""
        wx, wy, wz = (self.bound_centre[i] - o[i] for i in range(3))
        wd = wx * d[0] + wy * d[1] + wz * d[2]
        dd = d[0] * d[0] + d[1] * d[1] + d[2] * d[2]
        dist2 = wx * wx + wy * wy + wz * wz - wd * wd / dd
        return (dist2 <= self.bound_radius ** 2) & (wd > -self.bound_radius * np.sqrt(dd))

    def intersect(self, o, d):
        """Entry distance along world rays ``o + t d`` (inf = miss) and the index of the
        constraint entered (planes first, then the quadric)."""
        ox, oy, oz = self.to_local(*o)
        dx, dy, dz = self.to_local(*d, point=False)
        n = self.planes
        s = n[:, :1] * dx + n[:, 1:2] * dy + n[:, 2:3] * dz
        v = n[:, 3:] - (n[:, :1] * ox + n[:, 1:2] * oy + n[:, 2:3] * oz)
        s, v = np.broadcast_arrays(s, v)
        with np.errstate(divide='ignore', invalid='ignore'):
            t = v / s
        t_enter = np.where(s < 0, t, -np.inf)
        entry = t_enter.argmax(axis=0)
        t_in = t_enter.max(axis=0)
        t_out = np.where(s > 0, t, np.inf).min(axis=0)
        t_out = np.where(((s == 0) & (v < 0)).any(axis=0), -np.inf, t_out)
        if self.quadric is not None:
            q_in, q_out = self._quadric_interval(ox, oy, oz, dx, dy, dz)
            use_q = q_in > t_in
            entry = np.where(use_q, len(n), entry)
            t_in = np.maximum(t_in, q_in)
            t_out = np.minimum(t_out, q_out)
        hit = (t_in < t_out) & (t_in > 0)
        return np.where(hit, t_in, np.inf), entry

    def _quadric_interval(self, ox, oy, oz, dx, dy, dz):
        kind = self.quadric[0]
        if kind == 'ellipsoid':
            _, ax, ay, az = self.quadric
            X, Y, Z = ox / ax, (oy - ay) / ay, oz / az
            DX, DY, DZ = dx / ax, dy / ay, dz / az
            A = DX * DX + DY * DY + DZ * DZ
            B = 2 * (X * DX + Y * DY + Z * DZ)
            C = X * X + Y * Y + Z * Z - 1
        elif kind == 'cylinder':
            r2 = self.quadric[1] ** 2
            A = (dx * dx + dz * dz) / r2
            B = 2 * (ox * dx + oz * dz) / r2
            C = (ox * ox + oz * oz) / r2 - 1
        else:  # cone with apex at (0, h, 0): x^2 + z^2 <= k^2 (h - y)^2, cut by y <= h
            _, r, h = self.quadric
            k2 = (r / h) ** 2
            w0 = h - oy
            A = dx * dx + dz * dz - k2 * dy * dy
            B = 2 * (ox * dx + oz * dz) + 2 * k2 * w0 * dy
            C = ox * ox + oz * oz - k2 * w0 * w0
        A, B, C = np.broadcast_arrays(A, B, C)
        A = np.where(np.abs(A) < 1e-12, 1e-12, A)
        disc = B * B - 4 * A * C
        sq = np.sqrt(np.maximum(disc, 0))
        r1, r2 = (-B - sq) / (2 * A), (-B + sq) / (2 * A)
        lo, hi = np.minimum(r1, r2), np.maximum(r1, r2)
        inside = disc > 0
        q_in = np.where(inside, lo, np.inf)
        q_out = np.where(inside, hi, -np.inf)
        if kind == 'cone':
            # ray steeper than the cone: inside the double cone outside [lo, hi]; the lower
            # nappe is the piece that lies below the apex
            steep = A < 0
            dyb = np.broadcast_to(dy, A.shape)
            q_in = np.where(steep, np.where(dyb < 0, hi, -np.inf), q_in)
            q_out = np.where(steep, np.where(dyb < 0, np.inf, lo), q_out)
        return q_in, q_out

    def normals(self, px, py, pz, entry) -> tuple:
        """World unit normals at local hit points entered through constraint ``entry``."""
        m = len(self.planes)
        pn = self.planes[np.minimum(entry, m - 1), :3]
        nx, ny, nz = pn[:, 0], pn[:, 1], pn[:, 2]
        if self.quadric is not None:
            kind = self.quadric[0]
            if kind == 'ellipsoid':
                _, ax, ay, az = self.quadric
                gx, gy, gz = px / ax ** 2, (py - ay) / ay ** 2, pz / az ** 2
            elif kind == 'cylinder':
                gx, gy, gz = px, np.zeros_like(py), pz
            else:
                _, r, h = self.quadric
                gx, gy, gz = px, (r / h) ** 2 * (h - py), pz
            q = entry == m
            nx, ny, nz = np.where(q, gx, nx), np.where(q, gy, ny), np.where(q, gz, nz)
        norm = np.sqrt(nx * nx + ny * ny + nz * nz)
        return self.to_world(nx / norm, ny / norm, nz / norm, point=False)

    def albedo(self, px, py, pz) -> np.ndarray:
        """Class-specific texture on local points -> (P, 3) linear albedo."""
        p, n = self.period, self.count
        if self.kind == 'sphere':
            m = np.floor(py / p) % 2
        elif self.kind == 'cuboid':
            m = (np.floor(px / p + 0.3) + np.floor(py / p + 0.3) + np.floor(pz / p + 0.3)) % 2
        elif self.kind == 'cylinder':
            m = np.floor(n * (np.arctan2(pz, px) / (2 * np.pi) + 0.5)) % 2
        elif self.kind == 'pyramid':
            m = _hash_noise(np.floor(px / p), np.floor(py / p), np.floor(pz / p))
        elif self.kind == 'cone':
            m = np.floor(n * (np.arctan2(pz, px) / (2 * np.pi) + 0.5) + py / p) % 2
        else:  # ellipsoid: dots
            fx, fy, fz = (c / p - np.floor(c / p) - 0.5 for c in (px, py, pz))
            m = (fx * fx + fy * fy + fz * fz < 0.09).astype(np.float64)
        return self.colour[None, :] * (1 - self.contrast * m)[:, None]

    def keypoints(self, eye: np.ndarray) -> tuple[np.ndarray, bool]:
        """World keypoints (K, 3) and whether they are interior points (centres)."""
        if self.kind in ('sphere', 'ellipsoid'):
            return self.bound_centre[None, :].copy(), True
        d = self.dims
        if self.kind == 'cuboid':
            a, c, h = d['a'], d['c'], d['h']
            local = [(sx * a, y, sz * c) for y in (0, h) for sx in (-1, 1) for sz in (-1, 1)]
        elif self.kind == 'pyramid':
            a, h = d['a'], d['h']
            local = [(0, h, 0)] + [(sx * a, 0, sz * a) for sx in (-1, 1) for sz in (-1, 1)]
        else:
            # silhouette ends of the rims: tangent points of the camera's view on the circle
            r, h = d['r'], d['h']
            ex, _, ez = self.to_local(eye[0], eye[1], eye[2])
            dist = math.hypot(ex, ez)
            base = math.atan2(ez, ex)
            spread = math.acos(min(1.0, r / max(dist, 1e-9)))
            rim = [(r * math.cos(base + s * spread), r * math.sin(base + s * spread))
                   for s in (-1, 1)]
            ys = (0, h) if self.kind == 'cylinder' else (0,)
            local = [(x, y, z) for y in ys for x, z in rim]
            if self.kind == 'cone':
                local.append((0, h, 0))
        lx, ly, lz = np.asarray(local, dtype=np.float64).T
        return np.stack(self.to_world(lx, ly, lz), axis=1), False


def sample_scene(rng: np.random.Generator, num_object_classes: int,
                  num_objects: tuple[int, int]) -> dict:
    """Draw camera, room, light, palette and objects (nothing here depends on image size)."""
    u = rng.uniform
    rad = math.radians
    cam = dict(height=u(1.2, 1.8), pitch=rad(u(8, 25)), yaw=rad(u(-10, 10)),
               roll=rad(u(-3, 3)), hfov=rad(u(50, 65)))
    wall_yaw = rad(u(-20, 20))
    room = dict(back_dist=u(5.5, 9.0), wall_yaw=wall_yaw,
                side=int(rng.choice([-1, 0, 1], p=[0.25, 0.5, 0.25])), side_dist=u(1.8, 3.5))
    elev, azim = rad(u(30, 75)), rad(u(-110, 110)) + cam['yaw']
    light = dict(direction=np.array([math.cos(elev) * math.sin(azim), math.sin(elev),
                                     -math.cos(elev) * math.cos(azim)]),
                 ambient=u(0.2, 0.4), colour=u(0.95, 1.25) * (1 + u(-0.08, 0.08, size=3)))
    floor = dict(colour=_hsv_linear(u(0.03, 0.13), u(0.05, 0.45), u(0.35, 0.7)),
                 tile=u(0.4, 1.0), contrast=u(0.05, 0.35))
    wall = dict(colour=_hsv_linear(u(0, 1), u(0.03, 0.25), u(0.6, 0.9)),
                period=u(0.25, 0.8), contrast=u(0, 0.15) * (u() < 0.6))
    noise = u(0.004, 0.025)

    nb = np.array([math.sin(wall_yaw), 0, math.cos(wall_yaw)])   # back wall outward normal
    ns = room['side'] * np.array([math.cos(wall_yaw), 0, -math.sin(wall_yaw)])
    objects: list[_Solid] = []
    for _ in range(int(rng.integers(num_objects[0], num_objects[1] + 1))):
        ci = int(rng.integers(num_object_classes))
        kind = OBJECT_CLASSES[ci]
        s = u(0.3, 0.7)
        if kind == 'sphere':
            dims = dict(r=s)
        elif kind == 'cuboid':
            dims = dict(a=s * u(0.6, 1.3), c=s * u(0.6, 1.3), h=s * u(0.8, 2.4))
        elif kind == 'cylinder':
            dims = dict(r=s * u(0.5, 1.0), h=s * u(1.2, 3.0))
        elif kind == 'pyramid':
            dims = dict(a=s * u(0.7, 1.2), h=s * u(1.2, 2.6))
        elif kind == 'cone':
            dims = dict(r=s * u(0.6, 1.0), h=s * u(1.5, 3.0))
        else:
            dims = dict(ax=s * u(1.1, 1.7), ay=s * u(0.4, 0.7), az=s * u(0.5, 0.9))
        hue = _CLASS_HUE[kind] + rng.normal(0, 0.05)
        colour = _hsv_linear(hue, u(0.35, 0.9), u(0.45, 0.95))
        size = max(dims.values())
        look = dict(yaw=u(0, 2 * math.pi), colour=colour, contrast=u(0.15, 0.55),
                    period=size * u(0.3, 0.6), count=int(rng.integers(3, 7)) * 2)
        for _try in range(20):   # rejection: inside the room, not touching other objects
            dist = u(1.7, 6.0)
            bearing = cam['yaw'] + u(-0.85, 0.85) * cam['hfov'] / 2
            cx, cz = dist * math.sin(bearing), dist * math.cos(bearing)
            solid = _Solid(kind, ci, cx, cz, dims=dims, **look)
            centre = np.array([cx, 0, cz])
            ok = nb @ centre + solid.footprint <= room['back_dist'] - 0.2
            if room['side']:
                ok &= ns @ centre + solid.footprint <= room['side_dist'] - 0.2
            ok &= all(math.hypot(cx - o.cx, cz - o.cz) > solid.footprint + o.footprint + 0.05
                      for o in objects)
            if ok:
                objects.append(solid)
                break
    return dict(camera=cam, room=room, light=light, floor=floor, wall=wall, noise=noise,
                objects=objects)


def _camera_axes(cam: dict) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """World vectors of the camera's right, up and forward axes (world: y up)."""
    yaw, pitch, roll = cam['yaw'], cam['pitch'], cam['roll']
    fwd = np.array([math.sin(yaw) * math.cos(pitch), -math.sin(pitch),
                    math.cos(yaw) * math.cos(pitch)])
    right0 = np.array([math.cos(yaw), 0.0, -math.sin(yaw)])
    up0 = np.array([math.sin(yaw) * math.sin(pitch), math.cos(pitch),
                    math.cos(yaw) * math.sin(pitch)])
    right = math.cos(roll) * right0 + math.sin(roll) * up0
    up = -math.sin(roll) * right0 + math.cos(roll) * up0
    return right, up, fwd


def render_scene(scene: dict, height: int, width: int, rng: np.random.Generator,
                 with_edges: bool = True, with_keypoints: bool = True) -> dict:
    """Ray-cast ``scene`` at ``height x width``; returns float arrays: ``image`` (H, W, 3) in
    [0, 1], ``seg`` (H, W) uint8, ``depth`` (H, W), ``normal`` (H, W, 3), ``edge``,
    ``keypoints`` (H, W) heatmaps, plus ``surface_id`` (H, W; -1 miss, 0 floor, 1 back wall,
    2 side wall, 3+i object i), ``keypoint_xy`` (K, 2; pixel coordinates, pixel centres at
    +0.5) and ``focal``. ``rng`` draws the sensor noise."""
    H, W, P = height, width, height * width
    cam, room, light = scene['camera'], scene['room'], scene['light']
    objects: list[_Solid] = scene['objects']
    eye = np.array([0.0, cam['height'], 0.0])
    right, up, fwd = _camera_axes(cam)
    focal = (W / 2) / math.tan(cam['hfov'] / 2)
    xs = (np.arange(W) + 0.5 - W / 2) / focal
    ys = -(np.arange(H) + 0.5 - H / 2) / focal
    xn = np.broadcast_to(xs[None, :], (H, W)).ravel()
    yn = np.broadcast_to(ys[:, None], (H, W)).ravel()
    # ray directions with camera-z component 1, so the ray parameter t is the z-depth
    d = tuple(right[i] * xn + up[i] * yn + fwd[i] for i in range(3))

    # room: convex, camera inside; the first plane a ray leaves through is what it sees
    wy = room['wall_yaw']
    room_planes = [(np.array([0.0, -1.0, 0.0]), 0.0),
                   (np.array([math.sin(wy), 0.0, math.cos(wy)]), room['back_dist'])]
    if room['side']:
        room_planes.append((room['side'] * np.array([math.cos(wy), 0.0, -math.sin(wy)]),
                            room['side_dist']))
    t_best = np.full(P, np.inf)
    surf = np.full(P, -1, dtype=np.int64)
    for sid, (n, dist) in enumerate(room_planes):
        s = n[0] * d[0] + n[1] * d[1] + n[2] * d[2]
        with np.errstate(divide='ignore', invalid='ignore'):
            t = np.where(s > 1e-9, (dist - n @ eye) / s, np.inf)
        closer = t < t_best
        t_best = np.where(closer, t, t_best)
        surf = np.where(closer, sid, surf)
    entry = np.zeros(P, dtype=np.int64)
    pixel = np.arange(P).reshape(H, W)
    for k, obj in enumerate(objects):
        rect = obj.screen_rect(eye, (right, up, fwd), focal, H, W)
        if rect is None:
            continue
        idx = pixel[rect].ravel()
        idx = idx[obj.cull(eye, tuple(c[idx] for c in d))]
        if idx.size == 0:
            continue
        t, e = obj.intersect(eye, tuple(c[idx] for c in d))
        closer = t < t_best[idx]
        sel = idx[closer]
        t_best[sel] = t[closer]
        surf[sel] = _NUM_ROOM_SURFACES + k
        entry[sel] = e[closer]

    valid = surf >= 0
    t_hit = np.where(valid, t_best, 0.0)
    p = tuple(eye[i] + t_hit * d[i] for i in range(3))
    normal = np.zeros((P, 3))
    albedo = np.zeros((P, 3))
    seg = np.full(P, IGNORE_INDEX, dtype=np.uint8)
    for sid, (n, _) in enumerate(room_planes):
        idx = np.flatnonzero(surf == sid)
        normal[idx] = -n
        if sid == _FLOOR:
            seg[idx] = 0
            tile = scene['floor']['tile']
            a = np.floor((math.cos(wy) * p[0][idx] - math.sin(wy) * p[2][idx]) / tile)
            b = np.floor((math.sin(wy) * p[0][idx] + math.cos(wy) * p[2][idx]) / tile)
            m = (a + b) % 2
            albedo[idx] = scene['floor']['colour'] * (1 - scene['floor']['contrast'] * m)[:, None]
        else:
            seg[idx] = 1
            tangent = (np.array([math.cos(wy), 0, -math.sin(wy)]) if sid == _BACK_WALL
                       else np.array([math.sin(wy), 0, math.cos(wy)]))
            along = tangent[0] * p[0][idx] + tangent[2] * p[2][idx]
            m = np.floor(along / scene['wall']['period']) % 2
            albedo[idx] = scene['wall']['colour'] * (1 - scene['wall']['contrast'] * m)[:, None]
    for k, obj in enumerate(objects):
        idx = np.flatnonzero(surf == _NUM_ROOM_SURFACES + k)
        if idx.size == 0:
            continue
        seg[idx] = len(BACKGROUND_CLASSES) + obj.class_index
        lp = obj.to_local(p[0][idx], p[1][idx], p[2][idx])
        normal[idx] = np.stack(obj.normals(*lp, entry[idx]), axis=1)
        albedo[idx] = obj.albedo(*lp)

    # shading: Lambert + ambient, hard shadows cast by the objects
    L = light['direction']
    ndl = _dot3(normal, L)
    lit_idx = np.flatnonzero(valid & (ndl > 0))
    shadow = np.zeros(lit_idx.size, dtype=bool)
    if objects and lit_idx.size:
        o = tuple(p[i][lit_idx] + 1e-3 * normal[lit_idx, i] for i in range(3))
        for obj in objects:
            cand = np.flatnonzero(obj.cull(o, L) & ~shadow)
            if cand.size:
                t, _ = obj.intersect(tuple(c[cand] for c in o), L)
                shadow[cand[np.isfinite(t)]] = True
    direct = np.zeros(P)
    direct[lit_idx] = ndl[lit_idx] * ~shadow
    amb = light['ambient']
    shade = ((amb + (1 - amb) * direct)[:, None] * light['colour'][None, :]).astype(np.float32)
    image = np.clip(albedo.astype(np.float32) * shade, 0, 1) ** np.float32(1 / 2.2)
    image += rng.standard_normal(image.shape, dtype=np.float32) * np.float32(scene['noise'])
    image = np.clip(image, 0, 1, out=image)

    # camera-frame normals, x right, y up, z towards the camera
    n_cam = np.stack([_dot3(normal, right), _dot3(normal, up), -_dot3(normal, fwd)], axis=1)
    out = dict(image=image.reshape(H, W, 3), seg=seg.reshape(H, W),
               depth=t_hit.reshape(H, W), normal=n_cam.reshape(H, W, 3),
               surface_id=surf.reshape(H, W), focal=focal)
    if with_edges:
        out['edge'] = _edges(out['surface_id'], out['normal'])
    if with_keypoints:
        xy = _visible_keypoints(objects, eye, right, up, fwd, focal, H, W)
        out['keypoint_xy'] = xy
        out['keypoints'] = _heatmap(xy, H, W, sigma=1.5 * min(H, W) / 64)
    return out


def _edges(surface_id: np.ndarray, normal: np.ndarray) -> np.ndarray:
    """Occlusion edges (surface id changes) and crease edges (normals turn by > 20 degrees; full
    strength from 50, linear in the cosine between), marked on both pixels of a neighbour pair,
    with a faint 3x3 halo."""
    e = np.zeros(surface_id.shape)
    n = [normal[..., i] for i in range(3)]
    valid = surface_id >= 0
    for axis in (0, 1):
        a = (slice(1, None), slice(None)) if axis == 0 else (slice(None), slice(1, None))
        b = (slice(None, -1), slice(None)) if axis == 0 else (slice(None), slice(None, -1))
        cos = n[0][a] * n[0][b] + n[1][a] * n[1][b] + n[2][a] * n[2][b]
        crease = np.clip((_COS20 - cos) / (_COS20 - _COS50), 0, 1)
        crease *= valid[a] & valid[b]
        strength = np.maximum(crease, surface_id[a] != surface_id[b])
        np.maximum(e[a], strength, out=e[a])
        np.maximum(e[b], strength, out=e[b])
    pad = np.pad(e, 1, mode='edge')
    blur = 0.25 * pad[:-2] + 0.5 * pad[1:-1] + 0.25 * pad[2:]
    blur = 0.25 * blur[:, :-2] + 0.5 * blur[:, 1:-1] + 0.25 * blur[:, 2:]
    return np.maximum(e, blur)


def _visible_keypoints(objects, eye, right, up, fwd, focal, H, W) -> np.ndarray:
    """Project object keypoints; keep those in the image and not hidden by any object (the
    object itself included, except for centre points)."""
    pts, owner = [], []
    for k, obj in enumerate(objects):
        p, centre = obj.keypoints(eye)
        pts.append(p)
        owner.append(np.full(len(p), k if centre else -1))
    if not pts:
        return np.zeros((0, 2))
    rel = np.concatenate(pts) - eye
    owner = np.concatenate(owner)
    z = rel @ fwd
    zs = np.maximum(z, 1e-9)
    x = focal * (rel @ right) / zs + W / 2
    y = -focal * (rel @ up) / zs + H / 2
    keep = (z > 0.1) & (x >= 0) & (x < W) & (y >= 0) & (y < H)
    rel, x, y, owner = rel[keep], x[keep], y[keep], owner[keep]
    hidden = np.zeros(len(rel), dtype=bool)
    d = (rel[:, 0], rel[:, 1], rel[:, 2])  # rays eye -> keypoint reach it at t = 1
    if len(rel):
        for j, other in enumerate(objects):
            t, _ = other.intersect(eye, d)
            hidden |= (t < 1 - 1e-3) & (owner != j)
    return np.stack([x[~hidden], y[~hidden]], axis=1)


def _heatmap(xy: np.ndarray, H: int, W: int, sigma: float) -> np.ndarray:
    """Max over Gaussian blobs (peak 1) at continuous pixel coordinates ``xy``, each evaluated
    within 4 sigma."""
    out = np.zeros((H, W))
    r = 4 * sigma
    for x, y in xy:
        j0, j1 = max(int(x - r), 0), min(int(x + r) + 1, W)
        i0, i1 = max(int(y - r), 0), min(int(y + r) + 1, H)
        gx = np.exp(-(np.arange(j0, j1) + 0.5 - x) ** 2 / (2 * sigma ** 2))
        gy = np.exp(-(np.arange(i0, i1) + 0.5 - y) ** 2 / (2 * sigma ** 2))
        np.maximum(out[i0:i1, j0:j1], gy[:, None] * gx[None, :], out=out[i0:i1, j0:j1])
    return out
