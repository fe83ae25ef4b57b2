"""Meta-World v3 task table: task name (without the version suffix) -> (what the arm must do, what obs[4:7] is).

The descriptions and thresholds follow each task's evaluate_state / compute_reward and _get_pos_objects in the
installed Meta-World 3.x source. Task set: Yu et al., Meta-World: A Benchmark and Evaluation for Multi-Task and
Meta Reinforcement Learning, CoRL 2019.
"""

TASKS = {
    "assembly": (
        "Grasp the nut by its handle, carry it over the peg and drop its ring onto the peg. Success: the ring centre "
        "(site 'RoundNut', not obj1) is within 0.02 m of the goal (peg top) in x-y and below the goal's height.",
        "the nut's handle end (site 'RoundNut-8'), not the ring centre"),
    "basketball": (
        "Pick up the basketball and carry it over the hoop. Success: the ball is within 0.08 m of the point at the "
        "goal's x, y and z = 0.3 (above the hoop), with the z error counted double.",
        "the basketball (body 'bsktball')"),
    "bin-picking": (
        "Pick the cube up out of the left bin and put it into the right bin. Success: the cube is within 0.05 m of "
        "the goal, the centre of the target bin near its floor.",
        "the green cube (body 'obj')"),
    "box-close": (
        "Grasp the box lid by its handle, lift it and place it on top of the box. Success: the lid (obj1) is within "
        "0.08 m of the goal on the box; the lid should stay upright (the reward punishes tilting).",
        "the box lid (body 'top_link')"),
    "button-press": (
        "Push the button on the front of the box straight in along +y. Success: the button face (obj1) is within "
        "0.02 m of the goal in y only; it starts about 0.09 m away.",
        "the button's face (button body - 0.193 m in y)"),
    "button-press-topdown": (
        "Press the button on top of the box straight down. Success: the button top (obj1) is within 0.024 m of the "
        "goal in z only; it starts about 0.09 m above it.",
        "the button's top face (button body + 0.193 m in z)"),
    "button-press-topdown-wall": (
        "Press the button on top of the box straight down; a low wall stands on the table in front of the box. "
        "Success: the button top (obj1) is within 0.024 m of the goal in z only; it starts about 0.09 m above it.",
        "the button's top face (button body + 0.193 m in z)"),
    "button-press-wall": (
        "Push the button on the front of the box in along +y, getting past the low wall in front of it. Success: "
        "the button face (obj1) is within 0.03 m of the goal in y only; it starts about 0.09 m away.",
        "the button's face (button body - 0.193 m in y)"),
    "coffee-button": (
        "Push the coffee machine's button in along +y. Success: the button (obj1) is within 0.02 m of the goal in "
        "y only; it starts 0.03 m away, so it must go in by at least 0.01 m.",
        "the coffee machine's button (site 'buttonStart')"),
    "coffee-pull": (
        "Grasp the mug and pull it out from under the coffee machine to the goal on the table. Success: the mug is "
        "within 0.07 m of the goal.",
        "the mug (body 'obj')"),
    "coffee-push": (
        "Push the mug along the table until it sits under the coffee machine's spout at the goal. Success: the mug "
        "is within 0.07 m of the goal.",
        "the mug (body 'obj')"),
    "dial-turn": (
        "Turn the dial by pushing its rim around. Success: obj1, a point on the dial's rim 0.05 m from its centre "
        "that moves as the dial turns, is within 0.07 m of the goal; it starts about 0.085 m away.",
        "a point on the dial's rim (dial centre + 0.05 m along the dial angle)"),
    "disassemble": (
        "Grasp the nut by its handle and lift it up and off the peg. Success: obj1's height (the handle) is above "
        "the goal's z, which is 0.15 m above the nut's starting height; x and y are not measured.",
        "the nut's handle end (site 'RoundNut-8')"),
    "door-close": (
        "Push the open door shut. Success: the door handle (obj1) is within 0.08 m of the goal, which is where the "
        "handle sits when the door is closed.",
        "the door handle (geom 'handle')"),
    "door-lock": (
        "Turn the lock on the door by pressing its lever down. Success: obj1 (a point on the lock lever) is within "
        "0.02 m of the goal in z only; it starts about 0.11 m above it.",
        "a point on the lock lever (site 'lockStartLock')"),
    "door-open": (
        "Pull the door open by its handle, swinging it toward the robot. Success: the handle's x (obj1) is within "
        "0.08 m of the goal's x; only x is measured.",
        "the door handle (geom 'handle')"),
    "door-unlock": (
        "Turn the lock on the door by pushing its lever sideways (+x) and up. Success: obj1 (a point on the lock "
        "lever) is within 0.02 m of the goal in x only; it starts about 0.11 m away.",
        "a point on the lock lever (site 'lockStartUnlock')"),
    "drawer-close": (
        "Push the open drawer shut along +y. Success: obj1 is within 0.065 m of the goal; the goal sits 0.05 m "
        "below obj1's height, so the drawer must be within about 0.03 m of fully closed.",
        "a point at the drawer handle (drawer_link + (0, -0.16, 0.05))"),
    "drawer-open": (
        "Grasp the drawer handle and pull the drawer open toward the robot (-y). Success: the handle (obj1) is "
        "within 0.03 m of the goal, about 0.2 m out from the closed position.",
        "the drawer handle (drawer_link + (0, -0.16, 0))"),
    "faucet-close": (
        "Rotate the faucet handle round to the closed side (toward -x). Success: the handle end (obj1) is within "
        "0.07 m of the goal.",
        "the faucet handle's end (site 'handleStartClose' - 0.01 m in z)"),
    "faucet-open": (
        "Rotate the faucet handle round to the open side (toward +x). Success: the point obj1 + (-0.04, 0, 0.03) "
        "on the handle, not obj1 itself, is within 0.07 m of the goal.",
        "the faucet handle's end (site 'handleStartOpen' - 0.01 m in z)"),
    "hammer": (
        "Pick up the hammer and hit the nail into the box along +y. Success: the nail (obj2) is driven in more "
        "than 0.09 m of its 0.1 m travel (its slide joint); the goal marks the fully driven position.",
        "the hammer (body 'hammer' centre of mass)"),
    "hand-insert": (
        "Move the block across the table and put it into the hole. Success: the block is within 0.05 m of the goal, "
        "which lies in the hole below the table surface.",
        "the wooden block (body 'obj')"),
    "handle-press": (
        "Press the handle down. Success: the handle end (obj1) is within 0.02 m of the goal in z only; it starts "
        "about 0.1 m above it.",
        "the handle's end (site 'handleStart')"),
    "handle-press-side": (
        "Press the handle down, approaching it from the side. Success: the handle end (obj1) is within 0.02 m of "
        "the goal in z only; it starts about 0.1 m above it.",
        "the handle's end (site 'handleStart')"),
    "handle-pull": (
        "Pull the handle up. Success: obj1 (a point on the handle's right side) is within 0.05 m of the goal in z "
        "only; it starts about 0.11 m below it.",
        "the right side of the handle (site 'handleRight')"),
    "handle-pull-side": (
        "Pull the handle up, approaching it from the side. Success: the handle centre (obj1) is within 0.08 m of "
        "the goal in 3-D; it starts about 0.13 m away.",
        "the handle's centre (site 'handleCenter')"),
    "lever-pull": (
        "Lift the lever's end so the lever swings up to vertical. Success: the lever's joint angle is within pi/24 "
        "(7.5 degrees) of 90 degrees; the goal is where its end (obj1) sits when vertical.",
        "the lever's end (site 'leverStart')"),
    "peg-insert-side": (
        "Grasp the peg, lift it and push its head sideways into the hole in the box. Success: the peg head (site "
        "'pegHead', not obj1) is within 0.07 m of the goal, with y and z errors counted double.",
        "the peg's grasp point (site 'pegGrasp')"),
    "peg-unplug-side": (
        "Grasp the plug and pull it sideways (+x) out of its socket. Success: the plug's end (obj1) is within "
        "0.07 m of the goal.",
        "the plug's end (site 'pegEnd')"),
    "pick-out-of-hole": (
        "Grasp the peg standing in the hole, lift it out and hold it at the goal in the air. Success: the peg is "
        "within 0.07 m of the goal.",
        "the red cylinder (body 'obj')"),
    "pick-place": (
        "Pick up the puck and hold it at the goal position in the air. Success: the puck is within 0.07 m of the "
        "goal.",
        "the puck (body 'obj')"),
    "pick-place-wall": (
        "Pick up the puck, lift it over the wall and hold it at the goal behind the wall. Success: the puck is "
        "within 0.07 m of the goal.",
        "the puck (geom 'objGeom')"),
    "plate-slide": (
        "Slide the plate forward (+y) along the table into the cabinet. Success: the plate is within 0.07 m of the "
        "goal.",
        "the plate (geom 'puck')"),
    "plate-slide-back": (
        "Slide the plate out of the cabinet back toward the robot (-y) to the goal. Success: the plate is within "
        "0.07 m of the goal.",
        "the plate (geom 'puck')"),
    "plate-slide-back-side": (
        "Slide the plate sideways (+x) out of the cabinet to the goal on the table. Success: the plate is within "
        "0.07 m of the goal.",
        "the plate (geom 'puck')"),
    "plate-slide-side": (
        "Slide the plate sideways (-x) along the table into the cabinet. Success: the plate is within 0.07 m of the "
        "goal.",
        "the plate (geom 'puck')"),
    "push": (
        "Push the puck across the table to the goal. Success: the puck is within 0.05 m of the goal.",
        "the puck (body 'obj')"),
    "push-back": (
        "Push the block back across the table toward the robot (-y) to the goal. Success: the block is within "
        "0.07 m of the goal.",
        "the wooden block (geom 'objGeom')"),
    "push-wall": (
        "Push the puck around the wall to the goal on the table behind it. Success: the puck is within 0.07 m of "
        "the goal.",
        "the puck (geom 'objGeom')"),
    "reach": (
        "Move the gripper to the goal position; the puck on the table plays no part. Success: the fingertip centre "
        "(about 0.045 m below obs[0:3]) is within 0.05 m of the goal.",
        "the puck (body 'obj'), not used by the task"),
    "reach-wall": (
        "Move the gripper over the wall to the goal position behind it; the puck plays no part. Success: the "
        "fingertip centre (about 0.045 m below obs[0:3]) is within 0.05 m of the goal.",
        "the puck (body 'obj'), not used by the task"),
    "shelf-place": (
        "Pick up the block and place it on the shelf at the goal. Success: the block is within 0.07 m of the goal.",
        "the blue block (body 'obj')"),
    "soccer": (
        "Push the soccer ball along the table into the goal net. Success: the ball is within 0.07 m of the goal "
        "position.",
        "the soccer ball (body 'soccer_ball')"),
    "stick-pull": (
        "Grasp the stick, hook its end into the thermos handle and pull the thermos to the goal. Success: the handle "
        "(obj2, site 'insertion') is within 0.12 m of the goal while the stick's end (site 'stick_end') is in it: "
        "at or past it in x, within 0.04 m in y and 0.06 m in z.",
        "the stick (body 'stick' centre of mass)"),
    "stick-push": (
        "Grasp the stick and use it to push the thermos to the goal. Success: the thermos (obj2) is within 0.12 m "
        "of the goal while the stick is held: both finger pads touch it and it is over 0.01 m above its start "
        "height.",
        "the stick (body 'stick' centre of mass)"),
    "sweep": (
        "Sweep the block sideways (+x) across the table to the goal at the table's edge. Success: the block is "
        "within 0.05 m of the goal.",
        "the block (body 'obj' origin)"),
    "sweep-into": (
        "Push the block across the table into the hole. Success: the block is within 0.05 m of the goal (the hole) "
        "in x-y; height is not measured.",
        "the wooden block (body 'obj')"),
    "window-close": (
        "Slide the open window shut by pushing its handle toward -x. Success: the handle's x (obj1) is within "
        "0.05 m of the goal's x; only x is measured.",
        "the window handle (site 'handleCloseStart')"),
    "window-open": (
        "Slide the window open by pushing its handle toward +x. Success: the handle's x (obj1) is within 0.05 m of "
        "the goal's x; only x is measured.",
        "the window handle (site 'handleOpenStart')"),
}


SUCCESS_AXIS = {
    "button-press": "y", "button-press-wall": "y", "coffee-button": "y",
    "button-press-topdown": "z", "button-press-topdown-wall": "z", "door-lock": "z", "handle-press": "z",
    "handle-press-side": "z", "handle-pull": "z",
    "door-open": "x", "door-unlock": "x", "window-close": "x", "window-open": "x",
}
"""Tasks whose success test compares obj1 and the goal on one axis only (their evaluate_state)."""
