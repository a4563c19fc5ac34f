"""Container images built on this machine with no registry (``make images``).

* ``base``: a Debian ``minbase`` root filesystem with ``python3`` made by
  debootstrap from Debian packages and imported into podman as a local image.
* ``wheels``: every runtime wheel, downloaded or built on the host (where TLS to
  the package index works) for the image's Python, so image builds run offline.
* ``build``: one Dockerfile (``hack/images/Dockerfile``), a target per component, built by podman from a staged
  context holding only those wheels (dependencies and the project's apart, so
  the dependencies' layers stay cached while the code changes).
* ``podman``: the podman command line this kernel needs (runc, cgroupfs, capped ulimits).
"""
