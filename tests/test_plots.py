"""The figure helpers style their own figures only: importing gconvlib.plots leaves a user's
matplotlib as it was, and the book's seaborn look holds inside ``plots.theme()``."""
import subprocess
import sys


def test_importing_plots_leaves_matplotlib_settings_alone():
    code = ("import matplotlib as mpl; before = dict(mpl.rcParams); import gconvlib.plots; "
            "changed = [k for k, v in mpl.rcParams.items() if before[k] != v]; print(changed)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_theme_styles_the_block_and_restores_the_user_style():
    import matplotlib as mpl
    import matplotlib.pyplot as plt
    import pandas as pd

    from gconvlib import plots

    with mpl.rc_context({"axes.grid": False, "axes.facecolor": "yellow"}):
        with plots.theme():
            # seaborn's whitegrid: grid on, white axes
            assert mpl.rcParams["axes.grid"] is True
            assert mpl.colors.to_hex(mpl.rcParams["axes.facecolor"]) == "#ffffff"
        assert mpl.rcParams["axes.grid"] is False
        assert mpl.rcParams["axes.facecolor"] == "yellow"
        # a helper draws in the book's look although the user's style is active ...
        summary = pd.DataFrame(dict(variant=["baseline", "E"], test_acc_mean=[50.0, 40.0], test_acc_std=[1.0, 2.0]))
        drawn = plots.accuracy_bars(summary).axes[0]
        assert mpl.colors.to_hex(drawn.get_facecolor()) == "#ffffff"
        # ... and a figure the user makes afterwards keeps the user's look
        assert mpl.colors.to_hex(plt.figure().add_subplot().get_facecolor()) == "#ffff00"
        plt.close("all")
