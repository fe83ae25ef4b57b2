"""What people see of run folders, all read through promptpo.records: compare, plot, report, audit, diff,
export, dataset, and the live display of a running run."""
