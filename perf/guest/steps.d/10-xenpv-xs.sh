# The control crate's xenstore client against the real xenstored, through /dev/xen/xenbus
# (drivers/linux, xenpv-xs-check): one step per kind of operation.
for _c in read write directory watch transaction; do
	step "xs-$_c" /opt/xenpv/bin/xenpv-xs-check "$_c"
done
