"""The soak test (`make soak`): fastlb under mixed traffic for minutes, with reloads, weight
changes, backend restarts and an upgrade, watched for resource growth and client errors.

One concern per module: `model` (the records), `verdict` (the pure pass/fail rule),
`sampler` (/proc of the fastlb process), `topology` (backends and fastlb), `clients` (the
traffic), `operations` (what happens to fastlb meanwhile), `upgrade` (`serve --upgrade`),
`report` (markdown + plot), `cli` (the run).
"""
