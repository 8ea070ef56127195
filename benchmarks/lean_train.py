"""A lean, hand-written stock-PyTorch training script: the yardstick for issue 11.

    python benchmarks/lean_train.py DATA.csv --model gru --epochs 10 --lookback 48 --horizon 12 -o OUT.pt

What a competent user writes by hand, and nothing more: it reads the CSV with pandas
(first column time, the one numeric column the series), standardises it with the mean
and std of the training part (the first 1 - val_fraction of the points), cuts windows
with Tensor.unfold (lookback in, horizon out), holds out the windows whose targets fall
in the validation part, and trains nn.RNN/GRU/LSTM + nn.Linear on the last hidden state
with Adam, L1 loss, gradient clipping at 1.0 and one thread; the validation loss is
computed once per epoch. It writes the state dict and prints the final validation loss.
benchmarks/endtoend.py times tsgate's whole process against this one.
"""

import argparse

import pandas as pd
import torch
from torch import nn

RECURRENT = {"rnn": nn.RNN, "gru": nn.GRU, "lstm": nn.LSTM}


class Forecaster(nn.Module):
    def __init__(self, model: str, hidden: int, horizon: int):
        super().__init__()
        self.rnn = RECURRENT[model](1, hidden, batch_first=True)
        self.head = nn.Linear(hidden, horizon)

    def forward(self, x):  # (B, lookback, 1) -> (B, horizon)
        out, _ = self.rnn(x)
        return self.head(out[:, -1])


def windows(path: str, lookback: int, horizon: int, val_fraction: float):
    """Standardised (x, y) windows: the training ones, then those whose targets lie in the validation part."""
    frame = pd.read_csv(path)
    values = frame.iloc[:, 1:].select_dtypes("number").iloc[:, 0].to_numpy()
    series = torch.tensor(values, dtype=torch.float32)
    n_train = int(len(series) * (1 - val_fraction))
    series = (series - series[:n_train].mean()) / series[:n_train].std()
    cut = series.unfold(0, lookback + horizon, 1)  # (N, lookback + horizon); window i's targets start at i + lookback
    x, y = cut[:, :lookback, None], cut[:, lookback:]
    train, val = slice(0, n_train - lookback - horizon + 1), slice(n_train - lookback, None)
    return x[train], y[train], x[val], y[val]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("data")
    parser.add_argument("--model", choices=tuple(RECURRENT), default="gru")
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--lookback", type=int, default=48)
    parser.add_argument("--horizon", type=int, default=12)
    parser.add_argument("--hidden", type=int, default=64)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--lr", type=float, default=3e-3)
    parser.add_argument("--val-fraction", type=float, default=0.2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("-o", "--output", default="lean.pt")
    args = parser.parse_args()
    torch.set_num_threads(1)
    torch.manual_seed(args.seed)
    x_train, y_train, x_val, y_val = windows(args.data, args.lookback, args.horizon, args.val_fraction)
    model = Forecaster(args.model, args.hidden, args.horizon)
    optimizer = torch.optim.Adam(model.parameters(), lr=args.lr)
    loss_fn = nn.L1Loss()
    for _ in range(args.epochs):
        order = torch.randperm(len(x_train))
        for start in range(0, len(order), args.batch_size):
            batch = order[start:start + args.batch_size]
            loss = loss_fn(model(x_train[batch]), y_train[batch])
            optimizer.zero_grad()
            loss.backward()
            nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
        with torch.no_grad():
            val_loss = loss_fn(model(x_val), y_val).item()
    torch.save(model.state_dict(), args.output)
    print(f"{args.model}: {args.epochs} epochs, {len(x_train)} training windows, final validation L1 {val_loss:.4f}")


if __name__ == "__main__":
    main()
