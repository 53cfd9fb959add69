"""Active-active scale-out: announce the virtual IPs over BGP through an existing speaker
(BIRD 2 or ExaBGP) while this node can serve, so that routers spread flows with ECMP."""
