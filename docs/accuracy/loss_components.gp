# loss_components.gp: written by mfrec; re-render with `gnuplot loss_components.gp` in this directory.
set encoding utf8
if (strstrt(GPVAL_TERMINALS, 'pngcairo') > 0) {
    set terminal pngcairo size 900,600 font 'Sans,11' noenhanced
} else {
    set terminal png size 900,600 noenhanced
}
set output 'loss_components.png'
set title 'Loss components, preset accurate, k 64, split u1' noenhanced
set xlabel 'epoch' noenhanced
set ylabel 'loss (log scale)' noenhanced
set grid lc rgb '#d0d0d0'
set border lc rgb '#404040'
set logscale y
set format y '%g'
set key top right
plot 'loss_components.dat' using 1:2 with lines lw 2 lc rgb '#0072B2' title 'total loss', \
     'loss_components.dat' using 1:3 with lines lw 2 lc rgb '#D55E00' title 'observed MSE', \
     'loss_components.dat' using 1:4 with lines lw 2 lc rgb '#009E73' title 'L2', \
     'loss_components.dat' using 1:5 with lines lw 2 lc rgb '#CC79A7' title 'gravity'
set terminal svg size 900,600 font 'Sans,12' background rgb 'white' noenhanced
set output 'loss_components.svg'
replot
unset output
