"""What a user would write instead of fastgd: the NumPy baselines and the JAX peers.

One registry, three users: the tests check fastgd against the NumPy functions
(``tests/reference.py`` re-exports them), ``bench/`` times fastgd against both,
and ``fastgd bench`` prints the same comparison for the user's machine.  Plain
NumPy / JAX only; nothing here calls fastgd.
"""

import numpy as np


def _np_sigmoid(z):
    return np.exp(-np.logaddexp(0, -z))  # stable for every z


def np_logistic_vg(z, y):
    return np.logaddexp(0, z) - y * z, _np_sigmoid(z) - y


def np_sigmoid_vg(z):
    s = _np_sigmoid(z)
    return s, s * (1 - s)


def np_mse_vg(p, t):
    r = p - t
    return r * r, 2 * r


def np_sweep(activation_name, w0, lr, steps, *, x=1.0, target=0.0):
    """MSE through an activation, every (w0, lr) at once, plain updates (no checks)."""
    W = np.repeat(w0[:, None], lr.size, axis=1)
    LR = lr[None, :]
    for _ in range(steps):
        u = W * x
        if activation_name == "sigmoid":
            a = _np_sigmoid(u)
            g = 2 * (a - target) * (a * (1 - a)) * x
        else:
            g = 2 * (u - target) * x
        W = W - LR * g
    return W


def _np_logistic_cost(Z, y):
    return np.mean(np.logaddexp(0, Z) - y[:, None] * Z, axis=0)


def np_fit_batched(X, y, lr, steps, *, with_cost=False):
    """Logistic regression for every learning rate at once, the lrs batched into one GEMM.

    ``with_cost``: also every model's cost at every step (steps + 1 records).
    """
    n, D = X.shape
    W, b = np.zeros((D, lr.size)), np.zeros(lr.size)
    hist = []
    for _ in range(steps):
        Z = X @ W + b
        if with_cost:
            hist.append(_np_logistic_cost(Z, y))
        E = _np_sigmoid(Z) - y[:, None]
        W -= lr * (X.T @ E) / n
        b -= lr * E.mean(axis=0)
    if with_cost:
        hist.append(_np_logistic_cost(X @ W + b, y))
        return W, b, np.array(hist)
    return W, b


def np_sgd_batched(X, y, lr, steps, batch, seed=0):
    """Mini-batch SGD of logistic regression, every learning rate in one GEMM, a permutation per epoch."""
    n, D = X.shape
    rng = np.random.default_rng(seed)
    order = np.concatenate([rng.permutation(n) for _ in range(steps * batch // n + 1)])
    W, b = np.zeros((D, lr.size)), np.zeros(lr.size)
    for s in range(steps):
        idx = order[s * batch : (s + 1) * batch]
        Xb = X[idx]
        E = _np_sigmoid(Xb @ W + b) - y[idx, None]
        W -= lr * (Xb.T @ E) / batch
        b -= lr * E.mean(axis=0)
    return W, b


def _np_adam(g, mu, nu, t, b1=0.9, b2=0.999, eps=1e-8):
    """Optax's adam direction and moments after ``t`` earlier updates."""
    mu = (1 - b1) * g + b1 * mu
    nu = (1 - b2) * g * g + b2 * nu
    return (mu / (1 - b1 ** (t + 1))) / (np.sqrt(nu / (1 - b2 ** (t + 1))) + eps), mu, nu


def np_adam_fit_batched(X, y, lr, steps):
    """Logistic regression with Adam for every learning rate at once, the lrs batched into one GEMM."""
    n, D = X.shape
    W, b = np.zeros((D, lr.size)), np.zeros(lr.size)
    mw, vw, mb, vb = np.zeros_like(W), np.zeros_like(W), np.zeros_like(b), np.zeros_like(b)
    for t in range(steps):
        E = _np_sigmoid(X @ W + b) - y[:, None]
        dw, mw, vw = _np_adam((X.T @ E) / n, mw, vw, t)
        db, mb, vb = _np_adam(E.mean(axis=0), mb, vb, t)
        W -= lr * dw
        b -= lr * db
    return W, b


def np_adam_sweep(w0, lr, steps, *, x=1.0, target=0.0):
    """The MSE sweep with Adam, every (w0, lr) at once (no checks)."""
    W = np.repeat(w0[:, None], lr.size, axis=1)
    mu, nu = np.zeros_like(W), np.zeros_like(W)
    for t in range(steps):
        d, mu, nu = _np_adam(2 * (W * x - target) * x, mu, nu, t)
        W = W - lr[None, :] * d
    return W


def cv_columns(lr, l2, train_masks):
    """Every (grid point, fold) as a column: lr, l2 and the training mask (n, models) scaled by 1 / n_train."""
    F = train_masks.shape[0]
    lr_m, l2_m = np.repeat(lr, F), np.repeat(l2, F)
    M = np.tile(train_masks.T / train_masks.sum(axis=1), (1, lr.size))
    return lr_m, l2_m, M


def np_cv_fit(X, y, lr, l2, train_masks, steps):
    """Logistic regression for every (lr, l2) grid point on every fold's training rows, one GEMM pair a step.

    ``train_masks`` (F, n) of 0/1: fold f trains on its rows with 1 (a row of ones: the refit).
    Each column's gradient is the masked mean over its fold's rows, plus ``l2 w``.
    """
    lr_m, l2_m, M = cv_columns(lr, l2, train_masks)
    W, b = np.zeros((X.shape[1], lr_m.size)), np.zeros(lr_m.size)
    for _ in range(steps):
        E = (_np_sigmoid(X @ W + b) - y[:, None]) * M
        W -= lr_m * (X.T @ E + l2_m * W)
        b -= lr_m * E.sum(axis=0)
    return W, b


def np_multinomial_cv_fit(X, onehot, lr, l2, train_masks, steps):
    """The softmax model for every (lr, l2) grid point on every fold's rows: ``np_cv_fit`` with K logits a model.

    ``onehot`` (n, K).  W (D, models x K): a step is one GEMM for the logits of every model
    and class, a shifted softmax over the classes, and one GEMM for the gradients.
    """
    lr_m, l2_m, M = cv_columns(lr, l2, train_masks)
    (n, D), K, P = X.shape, onehot.shape[1], lr_m.size
    W, b = np.zeros((D, P * K)), np.zeros(P * K)
    lr_k, l2_k = np.repeat(lr_m, K), np.repeat(l2_m, K)
    for _ in range(steps):
        Z = (X @ W + b).reshape(n, P, K)
        E = np.exp(Z - Z.max(axis=2, keepdims=True))
        E = (E / E.sum(axis=2, keepdims=True) - onehot[:, None, :]) * M[:, :, None]
        E = E.reshape(n, P * K)
        W -= lr_k * (X.T @ E + l2_k * W)
        b -= lr_k * E.sum(axis=0)
    return W, b


NUMPY_BASELINES = {
    "cv_fit": np_cv_fit,
    "multinomial_cv_fit": np_multinomial_cv_fit,
    "fit_batched": np_fit_batched,
    "sgd_batched": np_sgd_batched,
    "adam_fit_batched": np_adam_fit_batched,
    "adam_sweep": np_adam_sweep,
    "logistic_vg": np_logistic_vg,
    "sigmoid_vg": np_sigmoid_vg,
    "mse_vg": np_mse_vg,
    "sweep": np_sweep,
}


# ------------------------------------------------------------- JAX peers
def have_jax():
    """True where JAX is importable (then with float64 enabled)."""
    try:
        import jax
    except ImportError:
        return False
    jax.config.update("jax_enable_x64", True)
    return True


def jax_elementwise(case):
    """``jit`` of the elementwise case ("logistic_vg", "sigmoid_vg", "mse_vg"), blocking until done."""
    import jax
    import jax.numpy as jnp

    if case == "logistic_vg":
        f = jax.jit(lambda z, y: (jnp.logaddexp(0, z) - y * z, jax.nn.sigmoid(z) - y))
    elif case == "mse_vg":
        f = jax.jit(lambda z, y: ((z - y) ** 2, 2 * (z - y)))
    else:
        f = jax.jit(lambda z, y: (jax.nn.sigmoid(z), jax.nn.sigmoid(z) * (1 - jax.nn.sigmoid(z))))
    return lambda z, y: jax.block_until_ready(f(z, y))


def jax_sweep(act, steps, x, target):
    """``jit`` + ``vmap`` + ``lax.fori_loop`` of the MSE sweep through ``act`` ("identity" or "sigmoid")."""
    import jax
    from jax import lax

    @jax.jit
    def run(w0, lr):
        def one(w, rate):  # one run, vmapped over the grid below
            def body(_, w):
                u = w * x
                if act == "sigmoid":
                    a = jax.nn.sigmoid(u)
                    g = 2 * (a - target) * a * (1 - a) * x
                else:
                    g = 2 * (u - target) * x
                return w - rate * g

            return lax.fori_loop(0, steps, body, w)

        return jax.vmap(jax.vmap(one, (None, 0)), (0, None))(w0, lr)

    return lambda w0, lr: jax.block_until_ready(run(w0, lr))


def jax_fit(steps, *, with_cost=False):
    """``jit`` of batched logistic regression (every lr in one GEMM), ``steps`` full-batch steps.

    ``with_cost``: also the cost of every model at every step (steps + 1 records), the
    work of ``fastgd.fit(..., record_every=1)``.
    """
    import jax
    import jax.numpy as jnp
    from jax import lax

    @jax.jit
    def run(X, y, lr):
        n, D = X.shape
        K = lr.shape[0]

        def body(i, carry):
            W, b, hist = carry
            Z = X @ W + b
            E = jax.nn.sigmoid(Z) - y[:, None]
            if with_cost:
                hist = hist.at[i].set(jnp.mean(jnp.logaddexp(0, Z) - y[:, None] * Z, axis=0))
            return W - lr * (X.T @ E) / n, b - lr * E.mean(axis=0), hist

        hist = jnp.zeros((steps + 1 if with_cost else 1, K))
        W, b, hist = lax.fori_loop(0, steps, body, (jnp.zeros((D, K)), jnp.zeros(K), hist))
        if with_cost:
            Z = X @ W + b
            hist = hist.at[steps].set(jnp.mean(jnp.logaddexp(0, Z) - y[:, None] * Z, axis=0))
        return W, b, hist

    return lambda X, y, lr: jax.block_until_ready(run(X, y, lr))


def jax_cv_fit(steps):
    """``jit`` + ``lax.fori_loop`` of ``np_cv_fit``: every (grid point, fold) a column of one batched GEMM.

    The fold masks weight the rows (the form of ``vmap`` over folds with masks, without
    its per-model matrix-vector products).  Arguments: JAX arrays X, y and ``cv_columns``'s
    three, converted before the call.
    """
    import jax
    import jax.numpy as jnp
    from jax import lax

    @jax.jit
    def run(X, y, lr_m, l2_m, M):
        def body(_, carry):
            W, b = carry
            E = (jax.nn.sigmoid(X @ W + b) - y[:, None]) * M
            return W - lr_m * (X.T @ E + l2_m * W), b - lr_m * E.sum(axis=0)

        return lax.fori_loop(0, steps, body, (jnp.zeros((X.shape[1], lr_m.shape[0])), jnp.zeros(lr_m.shape[0])))

    return lambda *args: jax.block_until_ready(run(*args))


def jax_multinomial_cv_fit(steps):
    """``jit`` + ``lax.fori_loop`` of ``np_multinomial_cv_fit``: every (grid point, fold, class) a GEMM column.

    ``jax.nn.softmax`` over the classes (shifted, as fastgd's), fold masks weighting the
    rows.  Arguments: JAX arrays X, onehot (n, K) and ``cv_columns``'s three.
    """
    import jax
    import jax.numpy as jnp
    from jax import lax

    @jax.jit
    def run(X, onehot, lr_m, l2_m, M):
        (n, D), K, P = X.shape, onehot.shape[1], lr_m.shape[0]
        lr_k, l2_k = jnp.repeat(lr_m, K), jnp.repeat(l2_m, K)

        def body(_, carry):
            W, b = carry
            Z = (X @ W + b).reshape(n, P, K)
            E = ((jax.nn.softmax(Z, axis=2) - onehot[:, None, :]) * M[:, :, None]).reshape(n, P * K)
            return W - lr_k * (X.T @ E + l2_k * W), b - lr_k * E.sum(axis=0)

        return lax.fori_loop(0, steps, body, (jnp.zeros((D, P * K)), jnp.zeros(P * K)))

    return lambda *args: jax.block_until_ready(run(*args))


def jax_sgd(steps, batch, seed=0):
    """Mini-batch SGD of batched logistic regression, every learning rate in one GEMM.

    ``lax.dynamic_slice`` of a per-epoch permutation, ``jit``, ``fori_loop``; the same
    batches for every learning rate.
    """
    import jax
    import jax.numpy as jnp
    from jax import lax

    @jax.jit
    def run(X, y, lr):
        n, D = X.shape
        K = lr.shape[0]
        epochs = (steps * batch) // n + 1
        keys = jax.random.split(jax.random.PRNGKey(seed), epochs)
        order = jnp.concatenate([jax.random.permutation(keys[e], n) for e in range(epochs)])

        def body(i, carry):
            W, b = carry
            idx = lax.dynamic_slice(order, (i * batch,), (batch,))
            Xb, yb = X[idx], y[idx]
            E = jax.nn.sigmoid(Xb @ W + b) - yb[:, None]
            return W - lr * (Xb.T @ E) / batch, b - lr * E.mean(axis=0)

        return lax.fori_loop(0, steps, body, (jnp.zeros((D, K)), jnp.zeros(K)))

    return lambda X, y, lr: jax.block_until_ready(run(X, y, lr))


def jax_optax_fit(steps, method="adam"):
    """Batched logistic regression with optax's ``method``, a learning rate per model, ``steps`` full-batch steps.

    ``optax.inject_hyperparams`` makes the learning rate state, here a (K,) array that
    broadcasts over the models' columns, so every model takes its own rate in one
    batched GEMM a step; ``jit`` + ``lax.fori_loop``.  No costs (the ``record_every=0`` work).
    """
    import jax
    import jax.numpy as jnp
    import optax
    from jax import lax

    @jax.jit
    def run(X, y, lr):
        n, D = X.shape
        K = lr.shape[0]
        opt = optax.inject_hyperparams(getattr(optax, method))(learning_rate=lr)
        params = (jnp.zeros((D, K)), jnp.zeros(K))

        def body(_, carry):
            params, state = carry
            W, b = params
            E = jax.nn.sigmoid(X @ W + b) - y[:, None]
            grads = ((X.T @ E) / n, E.mean(axis=0))
            updates, state = opt.update(grads, state, params)
            return optax.apply_updates(params, updates), state

        return lax.fori_loop(0, steps, body, (params, opt.init(params)))[0]

    return lambda X, y, lr: jax.block_until_ready(run(X, y, lr))


def jax_optax_sweep(steps, x, target, method="adam"):
    """The MSE sweep with optax's ``method``: ``vmap`` over the w0 x lr grid of a ``fori_loop`` per run, ``jit``."""
    import jax
    import optax
    from jax import lax

    @jax.jit
    def run(w0, lr):
        def one(w, rate):
            opt = optax.inject_hyperparams(getattr(optax, method))(learning_rate=rate)

            def body(_, carry):
                w, state = carry
                g = 2 * (w * x - target) * x
                upd, state = opt.update(g, state, w)
                return w + upd, state

            return lax.fori_loop(0, steps, body, (w, opt.init(w)))[0]

        return jax.vmap(jax.vmap(one, (None, 0)), (0, None))(w0, lr)

    return lambda w0, lr: jax.block_until_ready(run(w0, lr))


def have_optax():
    """True where optax (and JAX) are importable."""
    if not have_jax():
        return False
    try:
        import optax  # noqa: F401
    except ImportError:
        return False
    return True


# ---------------------------------------------------------------- on a Dask cluster
def have_dask_glm():
    """True where dask-glm (and dask.distributed) are importable."""
    try:
        import dask_glm.algorithms  # noqa: F401
        import distributed  # noqa: F401
    except ImportError:
        return False
    return True


def dask_glm_fit(steps):
    """dask-glm's ``gradient_descent``: one logistic model, ``steps`` iterations (backtracking line search)."""
    from dask_glm.algorithms import gradient_descent
    from dask_glm.families import Logistic

    return lambda X, y: gradient_descent(X, y, max_iter=steps, tol=0.0, family=Logistic, normalize=False)


def dask_fit_batched(steps):
    """Batched gd for every learning rate at once in Dask arrays: the step is a (n, D) x (D, K) GEMM per chunk.

    What a Dask user would write without fastgd: each step computes X.T @ (sigmoid(X @ W + b) - y)
    on the cluster and updates W (D, K) on the client.  Returns (W, b).
    """
    import dask
    import dask.array as da

    def run(X, y, lr):
        n, D = X.shape
        W, b = np.zeros((D, lr.size)), np.zeros(lr.size)
        for _ in range(steps):
            R = da.map_blocks(_np_sigmoid, X @ W + b, dtype=X.dtype) - y[:, None]
            G, g = dask.compute(X.T @ R, R.sum(axis=0))
            W -= lr * G / n
            b -= lr * g / n
        return W, b

    return run
