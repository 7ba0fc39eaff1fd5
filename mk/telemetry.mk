APT_PACKAGES += prometheus
