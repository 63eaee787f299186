"""The workloads project (``mlplat-workloads``): ``pulumi up`` here after the platform stack's."""
