# systemd backend: systemd-python builds against libsystemd; the backend's test boots a Debian
# container with systemd as PID 1 (debootstrap + systemd-nspawn).
APT_PACKAGES += libsystemd-dev debootstrap systemd-container
