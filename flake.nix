{
  # The image build (crane for daemons/, the uv-locked Python environment, pyrt._core) is not
  # written yet; see nix/README.md. This flake has no inputs so it evaluates offline.
  description = "py_rt trading appliance";

  outputs = { self }: { };
}
