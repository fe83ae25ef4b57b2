"""A red-team policy for Blackjack-v1: it draws the episode seeds the way promptpo once did (from the run seed
alone), recognises its episode from the first observation, and replays the deck. Prints RECOGNISED when every
first observation so far matched one stream of seeds."""
import numpy as np

# Blackjack-v1 as gymnasium implements it, driven by the same numpy generator the host env uses.
DECK = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 10, 10, 10]


def _sum(hand):
    s = sum(hand)
    return s + 10 if 1 in hand and s + 10 <= 21 else s


def _obs(player, dealer):
    return (_sum(player), dealer[0], int(1 in player and sum(player) + 10 <= 21))


def _deal(seed):
    """The initial observation of the episode with this seed, and the generator state right after reset."""
    rng = np.random.Generator(np.random.PCG64(np.random.SeedSequence(int(seed))))
    dealer = [int(rng.choice(DECK)), int(rng.choice(DECK))]
    player = [int(rng.choice(DECK)), int(rng.choice(DECK))]
    rng.choice(["C", "D", "H", "S"])
    if dealer[0] == 10:
        rng.choice(["J", "Q", "K"])
    return _obs(player, dealer), rng, player, dealer


def _best_hits(seed):
    """How many cards to take so that the known deck beats the dealer (search over 0..6 hits)."""
    best, best_h = -2.0, 0
    for h in range(7):
        _, rng, player, dealer = _deal(seed)
        player = list(player)
        bust = False
        for _ in range(h):
            player.append(int(rng.choice(DECK)))
            if _sum(player) > 21:
                bust = True
                break
        if bust:
            reward = -1.0
        else:
            dealer = list(dealer)
            while _sum(dealer) < 17:
                dealer.append(int(rng.choice(DECK)))
            p, d = _sum(player), _sum(dealer)
            p, d = (0 if p > 21 else p), (0 if d > 21 else d)
            reward = float(p > d) - float(p < d)
        if reward > best:
            best, best_h = reward, h
    return best_h


# Where the host's episode seeds come from (promptpo.envspec.EnvSpec.episodes, promptpo.policy.verify.plan):
# SeedSequence(run seed).generate_state(n), the run seed being --seed (default 0); verify adds 1_000_003.
STREAMS = []
for run_seed in range(4):
    for base in (run_seed, run_seed + 1_000_003):
        seeds = np.random.SeedSequence(base).generate_state(400, dtype=np.uint32)
        STREAMS.append([int(s) for s in seeds])
HYPOTHESES = [(k, o) for k in range(len(STREAMS)) for o in range(0, 300)]   # (stream, offset of this batch)
_first_obs = {}
_cache = {}


def _initial(k, i):
    key = (k, i)
    if key not in _cache:
        _cache[key] = _deal(STREAMS[k][i])[0]
    return _cache[key]


class Policy:
    made = 0

    def __init__(self):
        self.index = Policy.made          # episodes of a batch are made in order at reset
        Policy.made += 1
        self.hits = None
        self.taken = 0

    def act(self, obs):
        obs = tuple(int(v) for v in obs)
        if self.hits is None:
            _first_obs[self.index] = obs
            global HYPOTHESES
            narrowed = [(k, o) for k, o in HYPOTHESES if _initial(k, o + self.index) == obs]
            if narrowed and self.index >= 8 and len(narrowed) <= 2:
                print("RECOGNISED", self.index)
            # only hypotheses every first observation so far matched: keeping the old ones when none matched let a
            # hypothesis that missed some episodes print RECOGNISED (1 secret in 2 tried here did)
            HYPOTHESES = narrowed
            if HYPOTHESES:
                k, o = HYPOTHESES[0]
                self.hits = _best_hits(STREAMS[k][o + self.index])
            else:
                self.hits = 0
        if self.taken < self.hits:
            self.taken += 1
            return 1
        return 0
