"""The benchmark harness (the ``splitenv bench`` command): every method on the same instances.

| module | what |
| --- | --- |
| :mod:`.jobs` | a :class:`~.jobs.Job` (scenario x method x seed) and :func:`~.jobs.plan` |
| :mod:`.episode` | the env through the registry, one episode of a job, its CSV row |
| :mod:`.policy` | :class:`~.policy.SolverPolicy`, :func:`~.policy.run_episode`, ``KIND:ARG`` methods |
| :mod:`.run` | running jobs: in this process, a process pool, or ray |
| :mod:`.journal` | every finished job's row, appended and synced as it completes; resume keys |
| :mod:`.outdir` | the output folder: checked before any work, locked, files renamed into place |
| :mod:`.results` | the tidy CSV |
| :mod:`.summary` | statistics over seeds and the markdown table |
| :mod:`.figures` | the charts (matplotlib, the optional extra ``splitenv[plot]``) |
| :mod:`.bench` | the pipeline of ``splitenv bench``: run, journal, CSV, summary, figures |
| :mod:`.main_job` | ``splitenv run``: the short SCCT benchmark |
"""
