"""Checks examples/pseudo_label.py's report (pseudo-label.test): prints it,
then one verdict line per property, which FileCheck expects."""
import re
import sys

report = open(sys.argv[1]).read()
print(report)
baseline = 100 * float(re.search(r"^baseline ([0-9.]+)", report, re.M).group(1))
right = float(re.search(r"^pseudo-labels: .*\(([0-9.]+)% of them right\)", report, re.M).group(1))
retrained = 100 * float(re.search(r"^pseudo-labelled ([0-9.]+)", report, re.M).group(1))
print("pseudo-labels right: " + ("at least 5 points above" if right >= baseline + 5 else "NOT 5 points above") +
      f" the baseline's test accuracy ({right:.1f}% against {baseline:.2f}%)")
print("retrained: " + ("at most 2.5 points below" if retrained >= baseline - 2.5 else "MORE than 2.5 points below") +
      f" the baseline ({retrained:.2f}% against {baseline:.2f}%)")
