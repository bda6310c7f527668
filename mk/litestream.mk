# Litestream, the optional sidecar that copies the database off the host
# continuously (docs/durability.md, "Continuous copy with Litestream").
# A static binary from the npm registry: npm pack fetches the package, no
# node code runs.
#
#   make litestream      build/litestream/litestream

LITESTREAM_NPM := @flydotio/litestream-linux-x64@1.0.1
LITESTREAM := $(BUILD)/litestream/litestream

.PHONY: litestream
litestream: $(LITESTREAM)

$(LITESTREAM):
	@command -v npm >/dev/null || { echo "make litestream: npm is needed (Debian: apt-get install npm)" >&2; exit 1; }
	rm -rf $(BUILD)/litestream.tmp && mkdir -p $(BUILD)/litestream.tmp
	cd $(BUILD)/litestream.tmp && npm pack --silent $(LITESTREAM_NPM) >pack.name && \
		tar -xzf "$$(cat pack.name)" package/litestream
	$(BUILD)/litestream.tmp/package/litestream version
	mkdir -p $(dir $@) && mv $(BUILD)/litestream.tmp/package/litestream $@
	rm -rf $(BUILD)/litestream.tmp

integration-test: litestream
