"""The source document's two examples, line for line.

The document (``shared/seed``, in Chinese) trains XOR with two hand-written
NumPy loops: a 2-3-1 and a 2-3-2-1 sigmoid network, learning rate 0.1,
10 000 iterations.  They are written out here exactly as the document
writes them — ``np.dot``, ``np.sum``, ``sigmoid = 1 / (1 + np.exp(-x))``,
integer ``x`` and ``y``, the Chinese comments — with one change: the initial
parameters are arguments (the document draws them with the global
``np.random.randn``; :func:`initial_params` draws them in the same order from
a seeded Generator).  The loop bodies do nothing else, so the benchmarks can
time them as the competitor and the specs can use them as the reference.

Each returns ``([(w1, b1), ...], y_hat)``: the parameters after
``num_iterations`` updates, and ``y_hat``, the output of the last forward
pass (before its update), as the document prints it.
"""

import numpy as np

# 定义输入和输出
x = np.array([[0, 1], [1, 0], [1, 1], [0, 0]])
y = np.array([[1], [1], [0], [0]])


# 定义sigmoid函数
def sigmoid(x):
    return 1 / (1 + np.exp(-x))


def initial_params(layers, seed):
    """The document's ``np.random.randn`` draws (W1, b1, W2, b2, …), seeded."""
    rng = np.random.default_rng(seed)
    return [(rng.standard_normal((a, b)), rng.standard_normal(b))
            for a, b in zip(layers[:-1], layers[1:])]


def example_1(w1, b1, w2, b2, learning_rate=0.1, num_iterations=10000):
    """示例1: the 2-3-1 network."""
    w1, b1, w2, b2 = (p.copy() for p in (w1, b1, w2, b2))
    # 训练神经网络
    for i in range(num_iterations):
        # 前向传播
        z1 = np.dot(x, w1) + b1
        a1 = sigmoid(z1)
        z2 = np.dot(a1, w2) + b2
        y_hat = sigmoid(z2)
        # 计算误差
        error = y - y_hat
        # 反向传播
        delta2 = error * y_hat * (1 - y_hat)
        delta1 = np.dot(delta2, w2.T) * a1 * (1 - a1)
        # 更新权重和偏置
        w2 += learning_rate * np.dot(a1.T, delta2)
        b2 += learning_rate * np.sum(delta2, axis=0)
        w1 += learning_rate * np.dot(x.T, delta1)
        b1 += learning_rate * np.sum(delta1, axis=0)
    return [(w1, b1), (w2, b2)], y_hat


def example_2(w1, b1, w2, b2, w3, b3, learning_rate=0.1, num_iterations=10000):
    """示例2: the 2-3-2-1 network."""
    w1, b1, w2, b2, w3, b3 = (p.copy() for p in (w1, b1, w2, b2, w3, b3))
    # 训练神经网络
    for i in range(num_iterations):
        # 前向传播
        z1 = np.dot(x, w1) + b1
        a1 = sigmoid(z1)
        z2 = np.dot(a1, w2) + b2
        a2 = sigmoid(z2)
        z3 = np.dot(a2, w3) + b3
        y_hat = sigmoid(z3)
        # 计算误差
        error = y - y_hat
        # 反向传播
        delta3 = error * y_hat * (1 - y_hat)
        delta2 = np.dot(delta3, w3.T) * a2 * (1 - a2)
        delta1 = np.dot(delta2, w2.T) * a1 * (1 - a1)
        # 更新权重和偏置
        w3 += learning_rate * np.dot(a2.T, delta3)
        b3 += learning_rate * np.sum(delta3, axis=0)
        w2 += learning_rate * np.dot(a1.T, delta2)
        b2 += learning_rate * np.sum(delta2, axis=0)
        w1 += learning_rate * np.dot(x.T, delta1)
        b1 += learning_rate * np.sum(delta1, axis=0)
    return [(w1, b1), (w2, b2), (w3, b3)], y_hat


EXAMPLES = {(2, 3, 1): example_1, (2, 3, 2, 1): example_2}


def run(layers, seed=0, num_iterations=10000, learning_rate=0.1):
    """The document's example for ``layers`` from :func:`initial_params`."""
    init = initial_params(layers, seed)
    return EXAMPLES[tuple(layers)](*[p for pair in init for p in pair],
                                   learning_rate=learning_rate,
                                   num_iterations=num_iterations)
