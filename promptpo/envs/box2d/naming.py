"""Names for observation elements from the body tree: the main body, each limb (the depth-1 body it hangs
from) and its side, and each joint."""

from __future__ import annotations

import math
import re
from typing import Any

from promptpo.envs.box2d.code import Chain, Element, chain_text, live_value, path_of
from promptpo.envspec import ObsField

SIDE = 0.2
"""World units a limb must be off the main body's centre line, on each side, to be called its left or right one."""


BODY = {
    ("position", "x"): ("x", "horizontal position", "world units", "x"),
    ("position", 0): ("x", "horizontal position", "world units", "x"),
    ("position", "y"): ("y", "vertical position", "world units", "y"),
    ("position", 1): ("y", "vertical position", "world units", "y"),
    ("linearVelocity", "x"): ("vx", "horizontal velocity (+ toward +x)", "world units/s", "vx"),
    ("linearVelocity", 0): ("vx", "horizontal velocity (+ toward +x)", "world units/s", "vx"),
    ("linearVelocity", "y"): ("vy", "vertical velocity (+ up)", "world units/s", "vy"),
    ("linearVelocity", 1): ("vy", "vertical velocity (+ up)", "world units/s", "vy"),
    ("angle",): ("angle", "angle (counter-clockwise +)", "rad", "angle"),
    ("angularVelocity",): ("angular_vel", "angular velocity (counter-clockwise +)", "rad/s", "angular velocity"),
}
"""A Box2D body's quantities: (name suffix, words, unit, symbol in the scale)."""


JOINT = {
    ("angle",): ("angle", "angle", "rad", "angle"),
    ("speed",): ("speed", "angular speed", "rad/s", "speed"),
}
"""A revolute joint's quantities."""


class Tree:
    """The bodies joined to the main body (the one whose position, velocity or angle is observed): each one's
    depth, limb (the depth-1 body it hangs from, numbered in the env's own list order) and the limb's side."""

    def __init__(self, unwrapped: Any, elements: list[Element]):
        self.unwrapped = unwrapped
        self.paths = self.body_paths(unwrapped)
        self.root: Chain | None = None
        for element in elements:
            owner = owner_of(element.leaf, BODY) if element.leaf else None
            if owner is not None and self._is_body(live_value(unwrapped, owner)):
                self.root = owner
                break
        self.depth: dict[int, int] = {}
        self.limb: dict[int, int] = {}
        self.sides: dict[int, str] = {}
        if self.root is None:
            return
        root = live_value(unwrapped, self.root)
        joints = [j for j in unwrapped.world.joints if hasattr(j, "bodyA")]
        order = {id_: k for k, (id_, _) in enumerate(self.paths)}
        level = [root]
        seen = [root]
        depth = 0
        firsts: list[Any] = []
        while level:
            depth += 1
            nxt = []
            for parent in level:
                for joint in joints:
                    for a, b in ((joint.bodyA, joint.bodyB), (joint.bodyB, joint.bodyA)):
                        if a == parent and not any(b == s for s in seen):
                            seen.append(b)
                            nxt.append((b, parent))
            for body, parent in nxt:
                key = self.key(body)
                self.depth[key] = depth
                if depth == 1:
                    firsts.append(body)
                else:
                    self.limb[key] = self.limb.get(self.key(parent), -1)
            if depth == 1:
                firsts.sort(key=lambda b: order.get(self.key(b), len(order)))
                for k, body in enumerate(firsts):
                    self.limb[self.key(body)] = k
            level = [b for b, _ in nxt]
        xs = [float(root.GetLocalPoint(b.position)[0]) for b in firsts]
        if len(xs) == 2 and min(xs) < -SIDE < SIDE < max(xs):
            for body, x in zip(firsts, xs):
                self.sides[self.limb[self.key(body)]] = "right" if x > 0 else "left"

    @staticmethod
    def _is_body(value: Any) -> bool:
        return type(value).__name__ == "b2Body"

    @staticmethod
    def body_paths(unwrapped: Any) -> list[tuple[int, str]]:
        """(key, "self.legs[1]") for every body the env holds in an attribute or a list attribute: attributes
        first, then lists, shorter first (``legs`` before ``drawlist``), so each body's first path is its own."""
        return body_paths(unwrapped, "b2Body")

    @staticmethod
    def key(body: Any) -> int:
        return key_of(body)

    def path(self, body: Any) -> str:
        key = self.key(body)
        return next((p for k, p in self.paths if k == key), "a body")

    def limb_label(self, limb: int, word: str) -> str:
        return f"{self.sides[limb]}_{word}" if limb in self.sides else f"{word}{limb}"

    def limb_words(self, limb: int, word: str, path: str) -> str:
        if limb in self.sides:
            return f"the {self.sides[limb]} {word} ({'+' if self.sides[limb] == 'right' else '-'}x side, {path})"
        return f"{word} {limb} ({path})"


def key_of(thing: Any) -> int:
    """The same number for every Python wrapper of one Box2D object."""
    try:
        return int(thing.this)
    except (AttributeError, TypeError, ValueError):
        return id(thing)


def body_paths(unwrapped: Any, kind: str) -> list[tuple[int, str]]:
    direct, lists = [], []
    for name, value in vars(unwrapped).items():
        if type(value).__name__ == kind:
            direct.append((key_of(value), f"self.{name}"))
        elif isinstance(value, list) and value and all(type(v).__name__ == kind for v in value):
            lists.append((len(value), [(key_of(v), f"self.{name}[{k}]") for k, v in enumerate(value)]))
    return direct + [pair for _, found in sorted(lists, key=lambda item: item[0]) for pair in found]


def owner_of(leaf: Chain | None, table: dict) -> Chain | None:
    if leaf is None:
        return None
    for suffix in table:
        if len(leaf) > len(suffix) + 1 and tuple(leaf[-len(suffix):]) == suffix:
            return leaf[:-len(suffix)]
    return None


def _limb_word(tree: Tree, body: Any) -> str:
    """What a limb of the main body is called: the singular of the list holding it ("legs" -> "leg")."""
    path = tree.path(body)
    found = re.match(r"self\.(\w+)\[", path)
    return found.group(1).rstrip("s") if found else "limb"


def name_element(element: Element, tree: Tree, unwrapped: Any, space: Any) -> ObsField:
    i = element.index
    generic = ObsField(f"obs_{i}", f"obs[{i}]", f"element {i}, bounds [{space.low[i]:g}, {space.high[i]:g}] "
                                                f"(not matched to the installed code: `{element.code}`)")
    if not element.checked:
        return generic
    leaf = element.leaf
    code = f"`{chain_text(leaf)}`"  # the quantity read; the whole expression is in the step code the prompt shows
    owner = owner_of(leaf, BODY)
    if owner is not None and tree._is_body(live_value(unwrapped, owner)):
        suffix, words, unit, symbol = BODY[tuple(leaf[len(owner):])]
        label, whose = _body_label(tree, owner, unwrapped)
        return ObsField(f"{label}_{suffix}", f"obs[{i}]", f"{words} of {whose}; {code}", _scale(element, unit, symbol))
    owner = owner_of(leaf, JOINT)
    if owner is not None and type(live_value(unwrapped, owner)).__name__.endswith("RevoluteJoint"):
        suffix, words, unit, symbol = JOINT[tuple(leaf[len(owner):])]
        label, whose, sense = _joint_label(tree, live_value(unwrapped, owner), owner)
        return ObsField(f"{label}_{suffix}", f"obs[{i}]", f"{words} of {whose}; {code}"
                                                          f"{sense if suffix == 'angle' else ''}",
                        _scale(element, unit, symbol))
    if element.flag is not None and leaf[-1] == "ground_contact":
        body = live_value(unwrapped, leaf[:-1])
        label, whose = _body_label(tree, leaf[:-1], unwrapped)
        return ObsField(f"{label}_contact", f"obs[{i}]",
                        f"{element.flag[0]:g} while {whose} touches the ground, else {element.flag[1]:g}; {code}",
                        "flag") if tree._is_body(body) else generic
    if leaf[-1] == "fraction" and isinstance(leaf[-2], int) and hasattr(live_value(unwrapped, leaf[:-1]), "p2"):
        ray = live_value(unwrapped, leaf[:-1])  # p2 is where it hit (the callback moves it there), at that fraction
        dx, dy = float(ray.p2[0] - ray.p1[0]), float(ray.p2[1] - ray.p1[1])
        fraction = float(ray.fraction)
        reach = f"{math.hypot(dx, dy) / fraction:.3g}-unit " if fraction > 0.05 else ""
        turn = math.degrees(math.atan2(dx, -dy))
        where = "straight down" if abs(turn) < 0.5 else \
            f"{abs(turn):.0f} degrees from straight down toward {'+x' if turn > 0 else '-x'}"
        name = re.sub(r"\W+", "", str(leaf[-3]))
        return ObsField(f"{name}{leaf[-2]}", f"obs[{i}]",
                        f"ray from the {tree.root[-1] if tree.root else 'main body'}, {where}: fraction of its "
                        f"{reach}length to the first terrain hit (1.0 = none within reach); {code}",
                        _scale(element, "fraction", "fraction"))
    slug = "_".join(str(p) for p in leaf[1:])
    return ObsField(re.sub(r"\W+", "_", slug).strip("_").lower(), f"obs[{i}]", code, _scale(element, "", "value"))


def _body_label(tree: Tree, owner: Chain, unwrapped: Any) -> tuple[str, str]:
    body = live_value(unwrapped, owner)
    key = tree.key(body)
    path = tree.path(body)
    if owner == tree.root:
        return str(owner[-1]), f"the {owner[-1]}"
    if key in tree.depth:
        word = _limb_word(tree, body)
        limb = tree.limb.get(key, -1)
        part = "" if tree.depth[key] == 1 else "the lower segment of " if tree.depth[key] == 2 else \
            f"segment {tree.depth[key]} of "
        return tree.limb_label(limb, word), f"{part}{tree.limb_words(limb, word, path)}"
    return re.sub(r"\W+", "_", path.removeprefix("self.")).strip("_"), path


def _joint_label(tree: Tree, joint: Any, owner: Chain) -> tuple[str, str, str]:
    a, b = joint.bodyA, joint.bodyB
    da, db = tree.depth.get(tree.key(a), 0 if tree.root else -1), tree.depth.get(tree.key(b), 0 if tree.root else -1)
    child, parent, depth = (b, a, db) if db >= da else (a, b, da)
    path = chain_text(owner)
    if depth < 1 or tree.key(child) not in tree.limb:
        return re.sub(r"\W+", "_", path.removeprefix("self.")).strip("_"), f"joint {path}", ""
    kind = "hip" if depth == 1 else "knee" if depth == 2 else f"joint{depth}"
    limb = tree.limb[tree.key(child)]
    word = _limb_word(tree, child)
    label = f"{tree.sides[limb]}_{kind}" if limb in tree.sides else f"{kind}{limb}"
    # which way a larger angle swings the child (its centre about the joint): Box2D angles are counter-clockwise
    r = child.worldCenter - joint.anchorB
    swing = -float(r[1])
    sense = "" if abs(swing) < 1e-6 else \
        f"; a larger angle swings {tree.path(child).removeprefix('self.')} toward {'+x' if swing > 0 else '-x'}"
    return label, f"the {kind} of {word} {limb} ({path}: {tree.path(parent).removeprefix('self.')} to " \
                  f"{tree.path(child).removeprefix('self.')})" if limb not in tree.sides else \
        f"the {kind} of the {tree.sides[limb]} {word} ({path}: {tree.path(parent).removeprefix('self.')} to " \
        f"{tree.path(child).removeprefix('self.')})", sense


def _scale(element: Element, unit: str, symbol: str) -> str:
    """How the element relates to the quantity: "rad", "0.4 x rad/s (divide by 0.4 for rad/s)", ..."""
    if element.affine is None:
        bare = element.expr is not None and path_of(element.expr, element.aliases,
                                                   element.bound) is not None
        return unit if bare or not unit else f"{unit}, transformed as the code shows"
    a, b = element.affine
    if abs(a - 1) < 1e-9 and abs(b) < 1e-12:
        return unit
    if abs(b) < 1e-12:
        return f"{a:.5g} x {unit} (divide by {a:.5g} for {unit})"
    zero = -b / a
    if abs(a - 1) < 1e-9:
        return f"{symbol} {'+' if b > 0 else '-'} {abs(b):.5g}, {symbol} in {unit}"
    return f"{a:.5g} x ({symbol} {'-' if zero > 0 else '+'} {abs(zero):.5g}), {symbol} in {unit} (reads 0 at " \
           f"{symbol} = {zero:.5g})"
