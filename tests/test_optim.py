"""Tests for dissim.optim: DGrad / DecayDGrad against a NumPy transcription of the equations, and the registry."""

import io
import math
import sys
import textwrap
from importlib.metadata import EntryPoint

import numpy as np
import pytest
import torch
from torch import nn

import dissim.registry as shared_registry
from dissim.errors import UserError
from dissim.optim import (
    DecayDGrad,
    DGrad,
    create_optimizer,
    list_optimizers,
    register_optimizer,
    registry,
    resolve_optimizer,
)
from dissim.optim.dgrad import global_decay, impulse

SHAPES = [(3, 4), (5,), (2, 3, 2)]
NSTEPS = 25
LR, BETAS, EPS = 1e-2, (0.9, 0.99), 1e-8
NITER, PERIOD, C = 40, 6, 0.25


def gradient_sequence():
    """Seeded gradients; None means "no gradient this step".

    Tensor 2 has zero gradients for its first steps (so |g - avg| is all zero: the max = 0 guard) and
    again at step 12; tensor 1 gets no gradient at step 7 (its own step counter must not advance).
    """
    rng = np.random.default_rng(1234)
    sequence = []
    for t in range(1, NSTEPS + 1):
        grads = [rng.normal(scale=0.5 + i, size=shape) for i, shape in enumerate(SHAPES)]
        if t <= 3 or t == 12:
            grads[2] = np.zeros(SHAPES[2])
        if t == 7:
            grads[1] = None
        sequence.append(grads)
    return sequence


def numpy_reference(initial, sequence, avg, decay):
    """The update equations of Nanni et al. (Sensors 2021, §2.3) written out in float64 NumPy."""
    rho1, rho2 = BETAS
    theta = [x.copy() for x in initial]
    m = [np.zeros_like(x) for x in initial]
    u = [np.zeros_like(x) for x in initial]
    t = [0] * len(initial)
    for grads in sequence:
        for i, g in enumerate(grads):
            if g is None:
                continue
            t[i] += 1
            m[i] = rho1 * m[i] + (1 - rho1) * g
            u[i] = rho2 * u[i] + (1 - rho2) * g**2
            m_hat = m[i] / (1 - rho1 ** t[i])
            u_hat = u[i] / (1 - rho2 ** t[i])
            delta = np.abs(g - (u[i] if avg == "sq" else m[i]))
            delta_hat = delta / delta.max() if delta.max() > 0 else np.zeros_like(delta)
            xi = 1.0 / (1.0 + np.exp(-4.0 * delta_hat))
            if decay:
                imp = np.exp(-((2.0 * np.mod(t[i], PERIOD) / PERIOD) ** 2))
                d = np.exp(-2.0 * (t[i] - C * NITER) ** 2 / NITER**2)
                xi = xi * imp * d
            theta[i] = theta[i] - LR * xi * m_hat / (np.sqrt(u_hat) + EPS)
    return theta


def run_torch(optimizer_class, initial, sequence, **kwargs):
    params = [nn.Parameter(torch.tensor(x, dtype=torch.float64)) for x in initial]
    optimizer = optimizer_class(params, lr=LR, betas=BETAS, eps=EPS, **kwargs)
    for grads in sequence:
        for p, g in zip(params, grads):
            p.grad = None if g is None else torch.tensor(g, dtype=torch.float64)
        optimizer.step()
    return [p.detach().numpy() for p in params]


@pytest.fixture
def initial():
    rng = np.random.default_rng(99)
    return [rng.normal(size=shape) for shape in SHAPES]


@pytest.mark.parametrize("avg", ["sq", "grad"])
@pytest.mark.parametrize("decay", [False, True], ids=["DGrad", "DecayDGrad"])
def test_matches_numpy_reference(initial, avg, decay):
    sequence = gradient_sequence()
    if decay:
        got = run_torch(DecayDGrad, initial, sequence, avg=avg, niter=NITER, period=PERIOD, c=C)
    else:
        got = run_torch(DGrad, initial, sequence, avg=avg)
    want = numpy_reference(initial, sequence, avg, decay)
    for g, w, x0 in zip(got, want, initial):
        assert np.all(np.isfinite(g))
        assert not np.array_equal(g, x0)
        np.testing.assert_allclose(g, w, rtol=1e-6, atol=1e-12)


def test_zero_gradient_leaves_parameter_unchanged():
    p = nn.Parameter(torch.randn(4, 3))
    before = p.detach().clone()
    optimizer = DGrad([p], lr=0.1)
    p.grad = torch.zeros_like(p)
    optimizer.step()
    assert torch.equal(p.detach(), before)
    assert optimizer.state[p]["step"] == 1


def test_avg_grad_differs_from_avg_sq(initial):
    sequence = gradient_sequence()
    sq = run_torch(DGrad, initial, sequence, avg="sq")
    grad = run_torch(DGrad, initial, sequence, avg="grad")
    assert any(not np.allclose(a, b, rtol=1e-9, atol=0) for a, b in zip(sq, grad))


def test_impulse_is_one_at_multiples_of_period():
    for t in range(0, 50):
        value = impulse(t, 10)
        if t % 10 == 0:
            assert value == 1.0
        else:
            assert 0.0 < value < 1.0


def test_global_decay_peaks_at_c_niter():
    niter, c = 200, 0.25
    values = [global_decay(t, niter, c) for t in range(niter + 1)]
    assert int(np.argmax(values)) == 50
    assert values[50] == 1.0
    assert global_decay(50, niter) == 1.0  # c defaults to 0.25
    assert math.isclose(global_decay(0, niter, c), math.exp(-2 * 0.25**2))


def test_argument_validation():
    params = [nn.Parameter(torch.zeros(2))]
    with pytest.raises(ValueError, match="learning rate"):
        DGrad(params, lr=-1.0)
    with pytest.raises(ValueError, match="betas"):
        DGrad(params, betas=(0.9, 1.0))
    with pytest.raises(ValueError, match="betas"):
        DGrad(params, betas=(-0.1, 0.9))
    with pytest.raises(ValueError, match="avg"):
        DGrad(params, avg="mean")
    with pytest.raises(ValueError, match="niter"):
        DecayDGrad(params, niter=0)
    with pytest.raises(ValueError, match="niter"):
        DecayDGrad(params, niter=None)
    with pytest.raises(TypeError):
        DecayDGrad(params)  # niter is a required keyword argument
    with pytest.raises(ValueError, match="period"):
        DecayDGrad(params, niter=10, period=0)


def test_sparse_gradient_is_rejected():
    embedding = nn.Embedding(10, 3, sparse=True)
    optimizer = DGrad(embedding.parameters(), lr=0.1)
    embedding(torch.tensor([1, 2])).sum().backward()
    with pytest.raises(RuntimeError, match="sparse"):
        optimizer.step()


def test_skips_parameters_without_gradient():
    used, unused = nn.Parameter(torch.ones(3)), nn.Parameter(torch.ones(3))
    optimizer = DGrad([used, unused], lr=0.1)
    used.grad = torch.ones(3)
    optimizer.step()
    assert torch.equal(unused.detach(), torch.ones(3))
    assert unused not in optimizer.state
    assert not torch.equal(used.detach(), torch.ones(3))


def _train(model, optimizer, steps, first_step):
    for step in range(first_step, first_step + steps):
        generator = torch.Generator().manual_seed(step)
        x = torch.randn(8, 4, generator=generator)
        y = torch.randn(8, 2, generator=generator)

        def closure():
            optimizer.zero_grad()
            loss = nn.functional.mse_loss(model(x), y)
            loss.backward()
            return loss

        optimizer.step(closure)


def _model(seed):
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(4, 8), nn.Tanh(), nn.Linear(8, 2))


@pytest.mark.parametrize(
    "make",
    [
        lambda params: DGrad(params, lr=1e-2),
        lambda params: DGrad(params, lr=1e-2, avg="grad"),
        lambda params: DecayDGrad(params, lr=1e-2, niter=12, period=3),
    ],
    ids=["DGrad", "DGrad-grad", "DecayDGrad"],
)
def test_resume_from_state_dict_is_bit_identical(make):
    n, m = 5, 4
    straight = _model(0)
    _train(straight, make(straight.parameters()), n + m, first_step=0)

    first = _model(0)
    first_optimizer = make(first.parameters())
    _train(first, first_optimizer, n, first_step=0)
    buffer = io.BytesIO()
    torch.save({"model": first.state_dict(), "optimizer": first_optimizer.state_dict()}, buffer)
    buffer.seek(0)
    saved = torch.load(buffer)

    resumed = _model(1)  # different initial weights: everything must come from the checkpoint
    resumed_optimizer = make(resumed.parameters())
    resumed.load_state_dict(saved["model"])
    resumed_optimizer.load_state_dict(saved["optimizer"])
    assert all(s["step"] == n for s in resumed_optimizer.state.values())
    _train(resumed, resumed_optimizer, m, first_step=n)

    for a, b in zip(straight.parameters(), resumed.parameters()):
        assert torch.equal(a, b)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
@pytest.mark.parametrize("optimizer_class", [DGrad, DecayDGrad])
def test_cuda_step_has_no_host_sync(optimizer_class):
    params = [nn.Parameter(torch.randn(shape, device="cuda")) for shape in SHAPES]
    kwargs = {"niter": 10} if optimizer_class is DecayDGrad else {}
    optimizer = optimizer_class(params, lr=1e-2, **kwargs)
    for p in params:
        p.grad = torch.randn_like(p)
    params[2].grad.zero_()
    torch.cuda.synchronize()
    torch.cuda.set_sync_debug_mode("error")
    try:
        for _ in range(3):
            optimizer.step()
    finally:
        torch.cuda.set_sync_debug_mode("default")
    assert all(torch.isfinite(p).all() for p in params)


# --- registry ---------------------------------------------------------------------------------


@pytest.fixture
def isolated_registry(monkeypatch):
    """A private copy of the registry and no installed entry points, restored after the test."""
    monkeypatch.setattr(registry.OPTIMIZERS, "_entries", dict(registry.OPTIMIZERS._entries))
    monkeypatch.setattr(registry.OPTIMIZERS, "_entry_points", None)
    monkeypatch.setattr(shared_registry, "entry_points", lambda group: [])
    return registry


@pytest.fixture
def factories_module(tmp_path, monkeypatch):
    """An importable module of optimizer factories, written for the test."""
    name = "dissim_test_optim_factories"
    (tmp_path / f"{name}.py").write_text(
        textwrap.dedent(
            """
            import torch

            calls = []

            def make_sgd(params, *, lr, niter, momentum=0.0, **options):
                calls.append({"lr": lr, "niter": niter, "momentum": momentum, **options})
                return torch.optim.SGD(params, lr=lr, momentum=momentum)

            def make_adam(params, lr, niter, betas):
                return torch.optim.Adam(params, lr=lr, betas=betas)

            def make_plain(params, lr, niter):
                return torch.optim.SGD(params, lr=lr)

            def not_an_optimizer(params, **kwargs):
                return "sgd"

            NOT_CALLABLE = 3
            """
        )
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    yield name
    sys.modules.pop(name, None)


def _params():
    return [nn.Parameter(torch.zeros(3))]


def test_builtins_are_listed(isolated_registry):
    assert {"adam", "dgrad", "decaydgrad"} <= set(list_optimizers())
    assert list_optimizers() == sorted(list_optimizers())


def test_create_builtins():
    optimizer = create_optimizer("dgrad", _params(), lr=1e-3, niter=100)
    assert type(optimizer) is DGrad
    assert optimizer.defaults["lr"] == 1e-3

    optimizer = create_optimizer("DecayDGrad", _params(), lr=1e-3, betas=(0.8, 0.9), niter=100, period=5)
    assert type(optimizer) is DecayDGrad
    assert optimizer.defaults["niter"] == 100
    assert optimizer.defaults["period"] == 5
    assert optimizer.defaults["betas"] == (0.8, 0.9)

    optimizer = create_optimizer("adam", _params(), lr=1e-3, niter=100)
    assert type(optimizer) is torch.optim.Adam
    assert optimizer.defaults["eps"] == 1e-8
    assert optimizer.defaults["betas"] == (0.9, 0.99)


def test_bad_hyperparameters_are_user_errors():
    with pytest.raises(UserError, match="niter"):
        create_optimizer("decaydgrad", _params(), lr=1e-3, niter=None)
    with pytest.raises(UserError, match="avg"):
        create_optimizer("dgrad", _params(), lr=1e-3, niter=10, avg="mean")


def test_dotted_path_to_optimizer_class():
    optimizer = create_optimizer("torch.optim:SGD", _params(), lr=0.5, niter=10, momentum=0.9)
    assert type(optimizer) is torch.optim.SGD
    assert optimizer.defaults["momentum"] == 0.9

    # Adam's __init__ takes betas, so it gets them; it takes no niter, so it does not.
    optimizer = create_optimizer("torch.optim:Adam", _params(), lr=0.5, betas=(0.5, 0.6), niter=10)
    assert optimizer.defaults["betas"] == (0.5, 0.6)

    optimizer = create_optimizer("dissim.optim:DecayDGrad", _params(), lr=0.5, niter=77)
    assert type(optimizer) is DecayDGrad
    assert optimizer.defaults["niter"] == 77


def test_dotted_path_to_factory_function(factories_module):
    optimizer = create_optimizer(f"{factories_module}:make_sgd", _params(), lr=0.25, niter=9, momentum=0.5)
    assert type(optimizer) is torch.optim.SGD
    # make_sgd names no betas but takes **options, so betas arrives among the options.
    call = sys.modules[factories_module].calls[-1]
    assert call == {"lr": 0.25, "niter": 9, "momentum": 0.5, "betas": (0.9, 0.99)}

    optimizer = create_optimizer(f"{factories_module}:make_adam", _params(), lr=0.25, betas=(0.7, 0.8), niter=9)
    assert optimizer.defaults["betas"] == (0.7, 0.8)

    # A factory that takes no betas is not given them.
    optimizer = create_optimizer(f"{factories_module}:make_plain", _params(), lr=0.25, niter=9)
    assert type(optimizer) is torch.optim.SGD


def test_unknown_name_lists_registered(isolated_registry):
    with pytest.raises(UserError) as info:
        resolve_optimizer("sgdx")
    message = str(info.value)
    assert "'sgdx'" in message
    for name in ("adam", "dgrad", "decaydgrad"):
        assert name in message
    assert "pkg.module:Factory" in message


@pytest.mark.parametrize(
    "spec, problem",
    [
        ("no_such_module_xyz:Factory", "cannot import"),
        ("torch.optim:NoSuchOptimizer", "no attribute"),
        ("torch.optim:", "pkg.module:Factory"),
    ],
)
def test_bad_dotted_path(spec, problem):
    with pytest.raises(UserError, match=problem) as info:
        resolve_optimizer(spec)
    assert repr(spec) in str(info.value)


def test_non_callable_attribute(factories_module):
    with pytest.raises(UserError, match="not a factory"):
        resolve_optimizer(f"{factories_module}:NOT_CALLABLE")


def test_factory_returning_non_optimizer(factories_module, isolated_registry):
    with pytest.raises(UserError, match="must return a torch.optim.Optimizer"):
        create_optimizer(f"{factories_module}:not_an_optimizer", _params(), lr=0.1, niter=1)

    @register_optimizer("broken")
    def broken(params, **kwargs):
        return None

    with pytest.raises(UserError, match="must return a torch.optim.Optimizer"):
        create_optimizer("broken", _params(), lr=0.1, niter=1)


def test_register_decorator(isolated_registry):
    @register_optimizer("MySGD")
    def my_sgd(params, *, lr, betas, niter, **options):
        return torch.optim.SGD(params, lr=lr)

    assert "mysgd" in list_optimizers()
    assert resolve_optimizer("mysgd") is my_sgd
    assert type(create_optimizer("mysgd", _params(), lr=0.1, niter=1)) is torch.optim.SGD
    register_optimizer("mysgd")(my_sgd)  # the same object again is fine
    with pytest.raises(ValueError, match="already registered"):
        register_optimizer("mysgd")(lambda params, **kwargs: None)
    with pytest.raises(ValueError, match="already registered"):
        register_optimizer("dgrad")(lambda params, **kwargs: None)


def test_registry_isolation_restored():
    # Runs after test_register_decorator in file order: its registration must be gone.
    assert "mysgd" not in list_optimizers()


def test_entry_points_are_loaded_lazily(monkeypatch, isolated_registry):
    group = registry.OPTIMIZERS.group
    calls = []

    def fake_entry_points(*, group):
        calls.append(group)
        return [
            EntryPoint(name="PluginSGD", value="torch.optim:SGD", group=group),
            EntryPoint(name="broken-plugin", value="no_such_module_xyz:Factory", group=group),
        ]

    monkeypatch.setattr(shared_registry, "entry_points", fake_entry_points)
    assert calls == []
    names = list_optimizers()
    assert calls == [group]
    assert {"pluginsgd", "broken-plugin", "adam"} <= set(names)
    optimizer = create_optimizer("pluginsgd", _params(), lr=0.1, niter=1)
    assert type(optimizer) is torch.optim.SGD
    assert calls == [group]  # discovered once
    with pytest.raises(UserError, match="broken-plugin"):
        resolve_optimizer("broken-plugin")
