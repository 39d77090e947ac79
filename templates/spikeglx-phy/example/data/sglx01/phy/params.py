dat_path = r'../sglx01_run_g0/sglx01_run_g0_imec0/sglx01_run_g0_t0.imec0.ap.bin'
n_channels_dat = 5
dtype = 'int16'
offset = 0
sample_rate = 30000.0
hp_filtered = False
