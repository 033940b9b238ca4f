# loss_components.gp: written by mfrec; re-render with `gnuplot loss_components.gp` in this directory.
set encoding utf8
if (strstrt(GPVAL_TERMINALS, 'pngcairo') > 0) {
    set terminal pngcairo size 1100,750 font 'Sans,11' noenhanced
} else {
    set terminal png size 1100,750 noenhanced
}
set output 'loss_components.png'
set title 'Loss components before each epoch''s step, preset accurate, k 64, 400 epochs, data/ml-100k, split u1' noenhanced
set xlabel 'epoch' noenhanced
set ylabel 'loss at the factors the epoch began with (log scale)' noenhanced
set grid lc rgb '#d0d0d0'
set border lc rgb '#404040'
set logscale y
set format y '%g'
set xtics 50
set key bottom right
plot 'loss_components.dat' using 1:2 with lines lw 2 lc rgb '#0072B2' title 'total loss', \
     'loss_components.dat' using 1:3 with lines lw 2 lc rgb '#D55E00' title 'observed MSE', \
     'loss_components.dat' using 1:4 with lines lw 2 lc rgb '#009E73' title 'L2', \
     'loss_components.dat' using 1:5 with lines lw 2 lc rgb '#CC79A7' title 'gravity'
set terminal svg size 1100,750 font 'Sans,12' background rgb 'white' noenhanced
set output 'loss_components.svg'
replot
unset output
