"""The fastai article's loop written out by hand (seed 000): the baseline for the engine-overhead figure.

Literally the article's recipe: manual_seed(2021), time/speed as the article draws them, the randn(3) the
notebook displayed and threw away, params = randn(3).requires_grad_(), lr 1e-5, then apply_step for
EPOCHS epochs, reading loss.item() every epoch (as the article's print does), without printing it.
"""

import sys

import torch

EPOCHS = int(sys.argv[1]) if len(sys.argv) > 1 else 20000

torch.manual_seed(2021)
time = torch.arange(0, 20).float()
speed = torch.rand(20) * 5 + 0.8 * (time - 7.5) ** 2 + 1


def function(t, params):
    a, b, c = params
    return a * (t**2) + (b * t) + c


def mse(preds, targets):
    return ((preds - targets) ** 2).mean()


torch.randn(3)
params = torch.randn(3).requires_grad_()
orig_params = params.clone()
lr = 1e-5


def apply_step(params, prn=True):
    preds = function(time, params)
    loss = mse(preds, speed)
    loss.backward()
    params.data -= lr * params.grad.data
    params.grad = None
    rmse = (loss.item()) ** 0.5
    if prn:
        print("RMSE:", rmse)
    return preds


params = orig_params.detach().requires_grad_()
for i in range(EPOCHS):
    preds = apply_step(params, False)
print("RMSE:", mse(function(time, params), speed).item() ** 0.5)
