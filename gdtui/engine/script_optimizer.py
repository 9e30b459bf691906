"""The script's optimizer, its lr schedule and the changes made during the run, as gdtui makes them.

Why: a part of the script writer (`_Writer` in script.py, put together from parts as WriterBase declares),
kept apart because these pieces work together: a change of lr, momentum, settings or optimizer in the loop
(`if epoch == N:`) must take the optimizer and the scheduler as they were built above it and carry them on as
gdtui's trainer does (Trainer._scale_schedule, Trainer._carry_schedule, set_momentum).
"""

from __future__ import annotations

from typing import Any

from gdtui.engine.config import RunConfig
from gdtui.engine.script_base import WriterBase, _num, _setting, _settings


class OptimizerPart(WriterBase):
    """The script's optimizer, schedule and mid-run changes (a mixin of `_Writer`)."""

    def optimizer_code(self, c: RunConfig) -> str:
        if c.optimizer == "gd":
            return "None"  # plain gradient descent, written out in the loop
        lr = f"lr={self.n.lr}"
        m = _num(c.effective_momentum)
        settings = "".join(f", {name}={_setting(value)}" for name, value in _settings(c).items())
        return {
            "sgd": f"torch.optim.SGD(parameters, {lr}, momentum={m}, nesterov=False{settings})",
            "nesterov": f"torch.optim.SGD(parameters, {lr}, momentum={m}, nesterov=True{settings})",
            "adam": f"torch.optim.Adam(parameters, {lr}{settings})",
            "adamw": f"torch.optim.AdamW(parameters, {lr}{settings})",
            "rmsprop": f"torch.optim.RMSprop(parameters, {lr}, momentum={m}{settings})",
            "adagrad": f"torch.optim.Adagrad(parameters, {lr}{settings})",
        }[c.optimizer]

    def optimizer(self) -> None:
        c, n = self.start, self.n
        self.emit(f"{n.lr} = {_num(c.lr)}", f"epochs = {self.total}")
        if not self.gd_only:
            gd = "  # plain gradient descent, written out in the loop" if c.optimizer == "gd" else ""
            self.emit(f"optimizer = {self.optimizer_code(c)}{gd}")
        if self.loss_fixed is None:
            self.emit(f"loss_fn = {c.loss}")
        if self.zero_fixed is None:
            self.emit(f"zero_grad = {not c.accumulate_grad}  # False: the gradients accumulate from step to step")
        if any(self._momentum_change(i) for i in range(len(self.later))):
            self.emit(
                "",
                "",
                "def set_momentum(optimizer, momentum):",
                '    """A new momentum from the next step on, as gdtui sets it: a buffer is dropped when it falls to 0',
                '    and starts anew when it rises from 0 (RMSprop\'s from zeros), once the optimizer has state."""',
                "    for group in optimizer.param_groups:",
                '        was, group["momentum"] = group["momentum"], momentum',
                "        if (was == 0) == (momentum == 0):",
                "            continue",
                '        for p in group["params"]:',
                "            state = optimizer.state.get(p)",
                "            if not state:",
                "                continue",
                '            state.pop("momentum_buffer", None)',
                "            if momentum > 0 and isinstance(optimizer, torch.optim.RMSprop):",
                '                state["momentum_buffer"] = torch.zeros_like(p, memory_format=torch.preserve_format)',
                "",
            )
        if self.batched:
            xt, yt = self.x_train
            b = self.start.batch_size
            gen = f"torch.Generator().manual_seed({c.seed})" if c.shuffle and c.rng == "split" else "None"
            if c.rng == "single" and c.shuffle:
                self.emit("", "# a DataLoader without a generator: each epoch's order from torch's global one")
            self.emit(
                "",
                f"# mini-batches of {b}: an update per batch; an epoch's loss is the mean of its batch losses,",
                "# each taken before its own update, and its RMSE the root of the mean of their mean squared errors",
                "loader = DataLoader(",
                f"    TensorDataset({xt}, {yt}), batch_size={b}, shuffle={c.shuffle}, generator={gen}",
                ")",
            )
        if self.start.schedule is not None:
            self.schedule_code()
        if self.start.patience is not None:
            self.emit("best, since_best = math.inf, 0  # --patience: epochs since the loss last improved")
        self.emit("")

    @property
    def holder(self) -> str:
        """What holds the scheduled lr: the optimizer, or plain gd's stand-in (`lr_holder` names whichever holds
        it when the run has plain gd in any of its phases)."""
        return "lr_holder" if self.any_gd else "optimizer"

    def schedule_code(self) -> None:
        from gdtui.engine.schedules import code, spec

        c, n = self.start, self.n
        assert c.schedule is not None
        self.emit("", f"# --schedule {spec(c.schedule)}: torch's own scheduler, stepped after each epoch")
        if c.optimizer == "gd":
            self.emit(
                "# plain gradient descent reads its lr from a stand-in torch optimizer the scheduler drives",
                f"lr_holder = torch.optim.SGD([torch.zeros(1)], lr={n.lr})",
            )
        elif self.any_gd:
            self.emit("lr_holder = optimizer  # what holds the scheduled lr (a stand-in while gd steps)")
        batches = "len(loader)" if self.batched else "1"
        length = "epochs" if self.scheduled_epochs == self.total else str(self.scheduled_epochs)  # before a change
        self.emit(f"scheduler = {code(c.schedule, self.holder, length, batches, c.optimizer, c.effective_momentum)}")
        if c.optimizer == "gd":
            self.emit(
                "lr_holder.step()  # it holds no gradient (nothing moves): torch expects a step before the scheduler's",
                f'{n.lr} = lr_holder.param_groups[0]["lr"]',
            )

    def scale_schedule(self, lr: float, was: float) -> list[str]:
        """A new base lr in a scheduled run, as gdtui takes it (Trainer._scale_schedule): the schedule's base lrs
        and the lr it has reached scale by new/old, and it goes on from there."""
        lines = [
            f"factor = {_num(lr)} / {_num(was)}  # a new base lr: the schedule scales by new/old",
            f"for group in {self.holder}.param_groups:",
            '    for key in ("lr", "initial_lr", "max_lr", "min_lr"):',
            "        if key in group:",
            "            group[key] = group[key] * factor",
            'for part in (scheduler, *getattr(scheduler, "_schedulers", ())):',
            '    if hasattr(part, "base_lrs"):',
            "        part.base_lrs = [base * factor for base in part.base_lrs]",
            '    if hasattr(part, "_last_lr"):',
            f'        part._last_lr = [group["lr"] for group in {self.holder}.param_groups]',
        ]
        if self.any_gd:
            lines.append(f'{self.n.lr} = lr_holder.param_groups[0]["lr"]')
        return lines

    def carry_schedule(self, after: RunConfig) -> list[str]:
        """A new optimizer in a scheduled run, as gdtui takes it (Trainer._carry_schedule): the scheduler is built
        again over it (or over plain gd's new stand-in), then goes on from the old one's state and lr."""
        from gdtui.engine.schedules import code

        assert after.schedule is not None
        holder, lr = self.holder, self.n.lr
        fresh = "plain gradient descent" if after.optimizer == "gd" else "a new optimizer starts afresh"
        lines = [
            f"state, groups = scheduler.state_dict(), [dict(group) for group in {holder}.param_groups]",
            f"optimizer = {self.optimizer_code(after)}  # {fresh}",
        ]
        if after.optimizer == "gd":
            lines.append(f"lr_holder = torch.optim.SGD([torch.zeros(1)], lr={_num(after.lr)})  # gd's stand-in")
        elif holder == "lr_holder":
            lines.append("lr_holder = optimizer")
        batches = "len(loader)" if self.batched else "1"
        built = code(after.schedule, holder, "epochs", batches, after.optimizer, after.effective_momentum)
        lines += [f"scheduler = {built}".splitlines()[0], *built.splitlines()[1:]]
        if after.optimizer == "gd":
            lines.append("lr_holder.step()  # it holds no gradient: torch expects a step before the scheduler's")
        lines += [
            "scheduler.load_state_dict(state)  # the schedule goes on where it was",
            f"for group, was in zip({holder}.param_groups, groups):",
            '    for key in ("lr", "initial_lr"):',
            "        if key in was:",
            "            group[key] = was[key]",
        ]
        if self.any_gd:
            lines.append(f'{lr} = lr_holder.param_groups[0]["lr"]')
        return lines

    def schedule_step(self, loss: str) -> list[str]:
        """The scheduler's step (plateau's on the loss) and, for plain gd, its lr read back."""
        c = self.start
        assert c.schedule is not None
        lines = [f"scheduler.step({loss})" if c.schedule[0][0] == "plateau" else "scheduler.step()"]
        if self.any_gd:
            lines.append(f'{self.n.lr} = lr_holder.param_groups[0]["lr"]')
        return lines

    @property
    def by_batch(self) -> bool:
        """onecycle with mini-batches: its scheduler steps after each batch."""
        return self.batched and self.start.schedule is not None and self.start.schedule[0][0] == "onecycle"

    def _setting_line(self, key: str, value: Any) -> str:
        """A setting's new value; onecycle cycling adam's β1 keeps the β1 it has reached (a new β2 only)."""
        from gdtui.engine.schedules import cycles_momentum

        c = self.start
        cycled = c.schedule is not None and c.schedule[0][0] == "onecycle" and c.optimizer in ("adam", "adamw")
        if key == "betas" and cycled and cycles_momentum(c.optimizer, c.effective_momentum):
            return f'(group["betas"][0], {_num(value[1])})  # onecycle cycles β1'
        return _setting(value)

    def _momentum_change(self, i: int) -> bool:
        after, before = self.later[i][1], self.configs[i]
        return after.optimizer == before.optimizer and after.uses_momentum and after.momentum != before.momentum

    # -- the loop's changes -------------------------------------------------------------------------------

    def changes(self) -> None:
        n = self.n
        for i, (at, after) in enumerate(self.later):
            before = self.configs[i]
            body: list[str] = []
            if after.optimizer != before.optimizer and self.start.schedule is not None:
                body += self.carry_schedule(after)
                if after.lr != before.lr:
                    body += self.scale_schedule(after.lr, before.lr)
            elif after.optimizer != before.optimizer:
                if after.lr != before.lr:
                    body.append(f"{n.lr} = {_num(after.lr)}")
                fresh = "plain gradient descent" if after.optimizer == "gd" else "a new optimizer starts afresh"
                body.append(f"optimizer = {self.optimizer_code(after)}  # {fresh}")
            else:
                if after.lr != before.lr and self.start.schedule is not None:
                    body += self.scale_schedule(after.lr, before.lr)
                elif after.lr != before.lr:
                    body.append(f"{n.lr} = {_num(after.lr)}")
                    if after.optimizer != "gd":
                        body += ["for group in optimizer.param_groups:", f'    group["lr"] = {n.lr}']
                if self._momentum_change(i):
                    body.append(f"set_momentum(optimizer, {_num(after.effective_momentum)})")
                changed = {k: v for k, v in _settings(after).items() if _settings(before).get(k) != v}
                if changed:  # the optimizer's own settings, from the next step on (its state kept)
                    body.append("for group in optimizer.param_groups:")
                    body += [f'    group["{k}"] = {self._setting_line(k, v)}' for k, v in changed.items()]
            if after.loss != before.loss:
                body.append(f"loss_fn = {after.loss}")
            if after.accumulate_grad != before.accumulate_grad:
                body.append(f"zero_grad = {not after.accumulate_grad}")
            if not body:
                continue
            self.emit(f"    if epoch == {at + 1}:  # changed in gdtui after epoch {at}")
            self.emit(*(f"        {line}" for line in body))
