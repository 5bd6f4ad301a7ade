"""Seamless loops: the search, the bridge back to the start, the seam measured on the frames, and the verbs."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image
from test_emission import configs  # registers the test emissions, one of which reads the previous frame

import dyngen
from dyngen.algorithms.loop import best_start, bridge, cyclic_steps, synthesize_loop
from dyngen.cli import main
from dyngen.errors import UsageError
from dyngen.evaluation.loops import loop_seam
from dyngen.evaluation.metrics import motion_energy_curve
from dyngen.models.innovations import Innovations
from dyngen.models.transition import Transition
from dyngen.runs.train import train


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """A tiny model of the demo texture that moves (24 frames, 16x16)."""
    torch.set_num_threads(1)
    clip = dyngen.ripples(frames=24, size=16, seed=0)
    settings = dict(epochs=40, window=12, state_dim=8, noise_dim=8, base_channels=8, max_channels=32, preview_every=0)
    return dyngen.train(tmp_path_factory.mktemp("loop") / "run", clip, preset="demo", device="cpu", **settings)


def test_best_start_finds_the_stretch_that_comes_back():
    states = torch.randn(2, 21, 3, generator=torch.Generator().manual_seed(0))
    states[0, 13] = states[0, 5] + 1e-3  # a return after 8 steps, from t0 = 5
    states[1, 20] = states[1, 12]  # an exact one from t0 = 12
    t0, gap = best_start(states, 8)
    assert t0.tolist() == [5, 12]
    assert gap[0] == pytest.approx(1e-3 * 3**0.5, rel=1e-3) and gap[1] == 0


def test_bridge_returns_the_chain_to_its_start_and_keeps_the_draw():
    torch.manual_seed(0)
    f = Transition(state_dim=4, noise_dim=3, init_std=0.2, activation="leaky_relu")
    g = torch.Generator().manual_seed(1)
    inn = Innovations.fitted(torch.randn(50, 3, generator=g) * 2 + 1)  # not the prior: the map z -> xi matters
    with torch.no_grad():  # a start the chain visits
        start = f.rollout(torch.zeros(3, 4), inn.transform(torch.randn(3, 20, 3, generator=g)))[:, -1]
    z = torch.randn(3, 10, 3, generator=g)
    before = (f.rollout(start, inn.transform(z))[:, -1] - start).norm(dim=-1)
    z2 = bridge(f, start, z, inn)
    after = (f.rollout(start, inn.transform(z2))[:, -1] - start).norm(dim=-1)
    assert before.min() > 0.1 and after.max() < 1e-5
    assert ((z2 - z).norm(dim=(1, 2)) < 0.6 * z.norm(dim=(1, 2))).all()  # a small change of the drawn noise
    assert all(p.grad is None for p in f.parameters())  # the transition stays frozen


def test_loops_close_their_seam_where_plain_syntheses_jump(run):
    plain = dyngen.synthesize(run, frames=48, num=3, seed=0)
    looped = dyngen.synthesize(run, frames=48, num=3, seed=0, loop=True)
    assert looped.shape == plain.shape == (3, 48, 3, 16, 16)
    for p, v in zip(plain, looped):
        assert loop_seam(p)["seam_percentile"] == 100  # a plain synthesis jumps at its seam
        seam = loop_seam(v)
        assert seam["seam"] <= seam["inside_p90"], seam
        assert seam["inside_median"] > 0.3 * loop_seam(p)["inside_median"]  # the loop still moves
        steps = cyclic_steps(v[None])[0] * 127.5
        assert steps.max() < 1.5 * motion_energy_curve(p).max()  # and no jump hides inside it
    assert torch.equal(looped, dyngen.synthesize(run, frames=48, num=3, seed=0, loop=True))  # seeded


def test_the_loop_is_closed_before_it_is_cut(run):
    kwargs = dict(frames=30, num=2, s0=run.chains.s0[0], innovations=run.innovations())
    loop = synthesize_loop(run.model, generator=torch.Generator().manual_seed(3), **kwargs)
    assert loop.frames.shape == (2, 30, 3, 16, 16)
    assert (loop.searched_gap > 0.1).all() and (loop.gap < 1e-2).all()
    assert ((0 <= loop.start) & (loop.start <= 8 * 30 - 30)).all()
    steps = cyclic_steps(loop.frames)
    assert torch.equal(steps[:, -1], steps.min(dim=1).values)  # the file's seam is the cycle's stillest step
    for k in range(2):  # the cut is a rotation of the rendered cycle: the states still render the frames
        assert torch.allclose(run.model.render(loop.states[k : k + 1]), loop.frames[k : k + 1], atol=1e-5)
    # without the bridge the loop stays open: it is then not cut, its jump stays at the seam
    open_loop = synthesize_loop(run.model, generator=torch.Generator().manual_seed(3), steps=0, search=1, **kwargs)
    assert torch.equal(open_loop.gap, open_loop.searched_gap) and (open_loop.gap > 0.5).all()
    assert (open_loop.shift == 0).all()


def test_an_emission_that_reads_the_previous_frame_loops_through_itself(tmp_path):
    from dyngen.io.procedural import ripples

    mc, tc = configs("test-decay")
    trained = train(tmp_path / "run", ripples(12, 8, seed=1)[None], names=["clip"], model_config=mc, train_config=tc,
                    device="cpu")  # fmt: skip
    model = trained.model.eval()
    loop = synthesize_loop(model, frames=20, num=2, s0=trained.chains.s0[0], generator=torch.Generator().manual_seed(0))
    # rendered after its own last frame, the loop is itself: the frame after N-1 is frame 0, as the emission makes it
    again = model.render(loop.states, None, loop.frames[:, -1])
    assert torch.allclose(again, loop.frames, atol=1e-4)
    fresh = model.render(loop.states, None, None)  # from a blank previous frame: the start differs
    assert not torch.allclose(fresh[:, 0], loop.frames[:, 0], atol=1e-2)
    assert (loop.gap < 0.2 * loop.searched_gap).all()  # this tiny transition cannot reach every state exactly
    assert (loop.frame_gap < 1e-3).all()  # an emission that forgets its past: the frames close as the states do


def test_loop_refusals(run, tmp_path):
    with pytest.raises(UsageError, match="at least 2 frames"):
        dyngen.synthesize(run, frames=1, loop=True)
    lds = dyngen.load(_lds(tmp_path))
    with pytest.raises(UsageError, match="dynamic-generator runs"):
        dyngen.synthesize(lds, frames=10, loop=True)


def _lds(tmp_path):
    from dyngen.runs.lds import train_lds

    frames = torch.from_numpy(dyngen.ripples(frames=12, size=16, seed=0))[None]
    train_lds(tmp_path / "lds", frames, names=["clip"], state_dim=4)
    return tmp_path / "lds"


def test_cli_loop_writes_a_gif_that_loops(run, tmp_path, capsys):
    out = tmp_path / "loop.gif"
    assert main(["synthesize", str(run.run.path), "--frames", "16", "--loop", "--out", str(out), "--quiet"]) == 0
    with Image.open(out) as im:
        assert im.n_frames == 16 and im.info.get("loop") == 0  # 0: repeat for ever
        im.seek(15)
        last = np.asarray(im.convert("RGB"), dtype=float)
        im.seek(0)
        first = np.asarray(im.convert("RGB"), dtype=float)
    assert first.std() > 1 and np.abs(first - last).mean() < 0.5 * 127.5  # not blank, and no unrelated frames
    assert main(["synthesize", str(run.run.path), "--frames", "16", "--loop", "--grid", str(tmp_path / "g.png")]) == 2
    assert "--loop" in capsys.readouterr().err


def test_a_warping_loop_that_cannot_close_its_frames_says_so(tmp_path, caplog):
    from test_warp import configs as warp_configs
    from test_warp import translating

    mc, tc = warp_configs(warp_input="frame")
    tc = type(tc).from_dict({**tc.to_dict(), "epochs": 20})
    trained = train(tmp_path / "warp", translating(12)[None], names=["clip"], model_config=mc, train_config=tc,
                    device="cpu")  # fmt: skip
    model = trained.model.eval()
    assert model.generator.uses_previous
    loop = synthesize_loop(model, frames=16, num=2, s0=trained.chains.s0[0], generator=torch.Generator().manual_seed(0),
                           innovations=trained.innovations())  # fmt: skip
    # the states close, but x_t = W(x_{t-1}, d_t) + r_t keeps adding its residuals round after round
    assert (loop.gap < 0.5).all() and (loop.frame_gap > 0.5).all()
    assert (loop.shift == 0).all() and "the frames do not" in caplog.text  # not cut: the jump stays at the seam
    again = model.render(loop.states, None, loop.frames[:, -1])
    change = (again - loop.frames).abs().mean(dim=(1, 2, 3, 4)) / cyclic_steps(loop.frames).median(dim=1).values
    assert torch.allclose(change, loop.frame_gap, rtol=0.5)  # the reported figure is what another round changes


def test_a_loop_warping_the_first_frame_closes_its_frames(tmp_path):
    from test_warp import configs as warp_configs
    from test_warp import translating

    mc, tc = warp_configs(warp_input="first")
    trained = train(tmp_path / "warp", translating(12)[None], names=["clip"], model_config=mc, train_config=tc,
                    device="cpu")  # fmt: skip
    model = trained.model.eval()
    loop = synthesize_loop(model, frames=16, num=2, s0=trained.chains.s0[0], generator=torch.Generator().manual_seed(0),
                           innovations=trained.innovations())  # fmt: skip
    # x_t = W(x_1, d_t) + r_t: when the states come back, so do the frames
    assert (loop.gap < 0.5).all() and (loop.frame_gap < 1e-4).all()
    assert cyclic_steps(loop.frames).median(dim=1).values.min() > 0  # and it moves
