"""Write nord_pool_prices.csv: seven months of Nord Pool day-ahead prices with their two day-ahead
forecasts (load and wind), then the next day's forecasts with the price left empty.

    python sample_data/make_nord_pool_prices.py EPF_FOLDER

EPF_FOLDER holds the NP market of Lago et al.'s open electricity-price-forecasting benchmark
(epftoolbox) as three long CSVs: train.csv and test.csv (id,timestamp,value) and exog.csv
(id,timestamp,exog_1,exog_2). The stretch taken, 2016-03-28 .. 2016-10-29, lies between two
daylight-saving changes, so its hours are regular.
"""

import sys
from pathlib import Path

import pandas as pd

FIRST, LAST_PRICE, LAST = "2016-03-28 00:00", "2016-10-28 23:00", "2016-10-29 23:00"


def main() -> None:
    folder = Path(sys.argv[1])
    prices = pd.concat([pd.read_csv(folder / name) for name in ("train.csv", "test.csv")])
    exog = pd.read_csv(folder / "exog.csv")
    frame = exog[exog["id"] == "NP"].merge(prices[prices["id"] == "NP"], on=["id", "timestamp"], how="left")
    frame = frame[(frame["timestamp"] >= FIRST) & (frame["timestamp"] <= LAST)].copy()
    frame.loc[frame["timestamp"] > LAST_PRICE, "value"] = None  # the day to forecast: its forecasts are known
    frame[["exog_1", "exog_2"]] = frame[["exog_1", "exog_2"]].astype("int64")
    frame = frame.rename(columns={"value": "price", "exog_1": "load_forecast", "exog_2": "wind_forecast"})
    frame[["timestamp", "price", "load_forecast", "wind_forecast"]].to_csv(
        Path(__file__).with_name("nord_pool_prices.csv"), index=False)


if __name__ == "__main__":
    main()
